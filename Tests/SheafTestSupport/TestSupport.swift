import Foundation
import Synchronization

/// A fresh temporary folder, removed when its owner goes away.
public final class TemporaryFolder: Sendable {
    public let path: String

    public init() throws {
        path = FileManager.default.temporaryDirectory.path + "/sheaf-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the folder.
    public func file(_ name: String) -> String { path + "/" + name }
    /// The names in the folder, sorted.
    public var contents: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The repository root (three levels above this file).
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The path of a committed fixture, relative to `Fixtures/`.
public func fixturePath(_ relative: String) -> String { repositoryRoot + "/Fixtures/" + relative }

/// What a finished process printed and returned.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs `executable` with `arguments` and waits for it; stdout and stderr are
/// drained concurrently so a chatty process cannot block on a full pipe.
public func runProcess(_ executable: String, _ arguments: [String], in folder: String? = nil,
                       environment: [String: String]? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let errorOutput = ErrorDrain(err.fileHandleForReading)
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = errorOutput.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// Reads a pipe to its end on a thread of its own.
private final class ErrorDrain: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let data = Mutex(Data())

    init(_ handle: FileHandle) {
        Thread { [self] in
            let read = handle.readDataToEndOfFile()
            data.withLock { $0 = read }
            done.signal()
        }.start()
    }

    func wait() -> Data {
        done.wait()
        return data.withLock { $0 }
    }
}

/// The Python with numpy, h5py and safetensors that tests call (`.venv`, or
/// `SHEAF_TEST_PYTHON`); nil when there is none.
public let testPython: String? = {
    let candidates = [ProcessInfo.processInfo.environment["SHEAF_TEST_PYTHON"], repositoryRoot + "/.venv/bin/python"]
    return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// Whether tests that need Python must run: always in CI, else when it is installed.
public let pythonAvailable: Bool = testPython != nil || ProcessInfo.processInfo.environment["CI"] != nil
