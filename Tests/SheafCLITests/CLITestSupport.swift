import Foundation
import Testing

/// The folder holding the built products (the `sheaf` binary sits next to the test bundle).
let productsDirectory: String = {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.isExecutableFile(atPath: url.path + "/sheaf") { return url.path }
    }
    return ""
}()

let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

func fixturePath(_ relative: String) -> String { repositoryRoot + "/Fixtures/" + relative }

struct Run {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs the real `sheaf` binary.
func sheaf(_ arguments: String..., in folder: String? = nil) throws -> Run {
    try run(productsDirectory + "/sheaf", arguments, in: folder)
}

func run(_ executable: String, _ arguments: [String], in folder: String? = nil) throws -> Run {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
               stderr: String(decoding: errData, as: UTF8.self))
}

final class TemporaryFolder: @unchecked Sendable {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/sheaf-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    var contents: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

let testPython: String? = {
    let candidates = [ProcessInfo.processInfo.environment["SHEAF_TEST_PYTHON"], repositoryRoot + "/.venv/bin/python"]
    return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
}()
let pythonAvailable: Bool = testPython != nil || ProcessInfo.processInfo.environment["CI"] != nil
