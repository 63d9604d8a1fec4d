import Foundation
import Synchronization

/// Fixtures/security/manifest.json, written by Fixtures/make_security_fixtures.py:
/// files that point outside themselves or claim more than they hold, and the
/// error every entry point must give for each.
public struct SecurityManifest: Decodable, Sendable {
    public struct File: Decodable, Sendable, CustomStringConvertible {
        public var path: String
        public var format: String
        public var error: String
        public var message_contains: String
        public var description: String { path }
    }

    /// The absolute path some fixtures read as external storage.
    public var secret: String
    /// A FIFO one fixture names as external storage (reading it would block).
    public var secret_fifo: String
    public var files: [File]

    /// The committed manifest, or nil when it cannot be read.
    public static let committed: SecurityManifest? = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        guard let data = FileManager.default.contents(atPath: url.path + "/Fixtures/security/manifest.json") else { return nil }
        return try? JSONDecoder().decode(SecurityManifest.self, from: data)
    }()

    /// What the outside file holds while tests run: no output and no message may
    /// ever contain it.
    public static let marker = "SHEAF-SECRET-MARKER-0123456789012345678901234567890123456789012"

    /// Fills the outside file the fixtures point at (atomically, as several test
    /// processes may do it at once) and makes the FIFO.
    public static func plantSecret() throws {
        guard let manifest = committed else { return }
        if FileManager.default.contents(atPath: manifest.secret) != Data(marker.utf8) {
            let staging = manifest.secret + ".\(getpid()).tmp"
            try Data(marker.utf8).write(to: URL(fileURLWithPath: staging))
            rename(staging, manifest.secret)
        }
        if access(manifest.secret_fifo, F_OK) != 0 { mkfifo(manifest.secret_fifo, 0o600) }
        fifoWriter.start()
    }

    /// Serves the FIFO: whoever opens it for reading gets the marker, so a
    /// reader that wrongly follows external storage onto it leaks the marker
    /// (which the tests catch) instead of blocking forever with no writer.
    private static let fifoWriter = FIFOWriter()

    private final class FIFOWriter: Sendable {
        private let started = Mutex(false)

        func start() {
            guard let path = SecurityManifest.committed?.secret_fifo else { return }
            let first = started.withLock { started in
                defer { started = true }
                return !started
            }
            guard first else { return }
            Thread {
                let bytes = Array(SecurityManifest.marker.utf8)
                while true {
                    let fd = open(path, O_WRONLY)  // blocks until a reader opens the FIFO
                    if fd < 0 { sleep(1); continue }
                    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    close(fd)
                    usleep(10_000)
                }
            }.start()
        }
    }
}
