import Foundation
import Testing
@testable import Sheaf

/// A fresh temporary folder, removed when the test ends.
final class TemporaryFolder: @unchecked Sendable {
    let path: String
    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/sheaf-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The repository root (two levels above this file's folder).
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

func fixturePath(_ relative: String) -> String { repositoryRoot + "/Fixtures/" + relative }

/// Expects `body` to throw a SheafError with `code`; returns it.
@discardableResult
func expectSheafError(_ code: SheafError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () throws -> Void) -> SheafError? {
    do {
        try body()
        Issue.record("expected \(code) error, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as SheafError {
        #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected SheafError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
