import Foundation

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
    }
}
