import Foundation
import Testing

/// The README's Swift examples, as a user copies them: each block is
/// type-checked on its own, in Swift 6 mode, against the modules this build made.
@Suite("README examples")
struct ReadmeExamplesTests {
    static let blocks: [String] = {
        guard let text = try? String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8) else { return [] }
        var blocks: [String] = [], current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```swift" { current = [] }
            else if current != nil, line == "```" { blocks.append(current!.joined(separator: "\n") + "\n"); current = nil }
            else if current != nil { current!.append(line) }
        }
        return blocks
    }()

    @Test("the README has its four Swift examples")
    func found() { #expect(Self.blocks.count == 5) }

    @Test("each Swift example compiles as written in Swift 6 mode with no warnings", arguments: Self.blocks.indices)
    func compiles(_ index: Int) throws {
        let folder = try TemporaryFolder()
        let source = folder.file("main.swift")
        try Self.blocks[index].write(toFile: source, atomically: true, encoding: .utf8)
        var arguments = ["swiftc", "-typecheck", "-swift-version", "6", "-I", productsDirectory + "/Modules"]
        for module in ["CHDF5", "CXXHash", "CZlib", "COpenBLAS"] { arguments += ["-I", repositoryRoot + "/Sources/" + module] }
        let flags = try runProcess("/usr/bin/env", ["pkg-config", "--cflags", "hdf5"]).stdout
        for flag in flags.split(whereSeparator: \.isWhitespace) { arguments += ["-Xcc", String(flag)] }
        let result = try runProcess("/usr/bin/env", arguments + [source])
        #expect(result.status == 0, "block \(index + 1):\n\(result.stderr)")
        let warnings = result.stderr.split(separator: "\n").filter { $0.contains("warning:") }
        #expect(warnings.isEmpty, "block \(index + 1): \(warnings)")
    }
}
