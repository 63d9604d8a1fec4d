import Foundation
import Testing
@testable import Sheaf

/// The parsed Fixtures/format/manifest.json, by path.
nonisolated(unsafe) let formatManifest: [[String: Any]] = {
    guard let data = FileManager.default.contents(atPath: fixturePath("format/manifest.json")),
          let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let files = root["files"] as? [[String: Any]] else { return [] }
    return files
}()

/// One file of Fixtures/format/manifest.json.
struct FormatFixture: CustomTestStringConvertible, Sendable {
    let path: String
    var testDescription: String { path }
    var record: [String: Any] { formatManifest.first { $0["path"] as? String == path }! }
    var valid: Bool { record["valid"] as! Bool }
    var error: String? { record["error"] as? String }
    var stage: String? { record["stage"] as? String }
    var kind: String? { record["kind"] as? String }
    var tensors: [[String: Any]] { record["tensors"] as? [[String: Any]] ?? [] }
    var metadata: [String: Any] { record["metadata"] as? [String: Any] ?? [:] }

    static let all: [FormatFixture] = formatManifest.map { FormatFixture(path: $0["path"] as! String) }
}

/// A manifest metadata value (`{"type": …, "value": …}`) as a MetadataValue.
func metadataValue(_ json: Any) -> MetadataValue? {
    guard let object = json as? [String: Any], let type = object["type"] as? String else { return nil }
    let value = object["value"]
    switch type {
    case "string": return (value as? String).map { .string($0) }
    case "int": return (value as? NSNumber).map { .int($0.int64Value) }
    case "float": return (value as? NSNumber).map { .float($0.doubleValue) }
    case "bool": return (value as? Bool).map { .bool($0) }
    case "list[string]": return (value as? [String]).map { .strings($0) }
    case "list[int]": return (value as? [NSNumber]).map { .ints($0.map(\.int64Value)) }
    case "list[float]": return (value as? [NSNumber]).map { .floats($0.map(\.doubleValue)) }
    case "list[bool]": return (value as? [Bool]).map { .bools($0) }
    default: return nil
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        bytes.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

@Suite("Conformance fixtures written by h5py (Fixtures/format)")
struct ConformanceTests {
    @Test("the manifest lists valid and invalid fixtures")
    func manifest() {
        #expect(FormatFixture.all.filter(\.valid).count >= 10)
        #expect(FormatFixture.all.filter { !$0.valid }.count >= 20)
    }

    @Test("valid fixtures load with the described content and verify clean",
          arguments: FormatFixture.all.filter(\.valid))
    func valid(_ fixture: FormatFixture) throws {
        let path = fixturePath("format/" + fixture.path)
        let file = try SheafFile(path: path)
        #expect(file.kind.rawValue == fixture.kind)
        let expectedKeys = fixture.tensors.map { $0["key"] as! String }
        #expect(file.keys == expectedKeys)
        let sd = try file.stateDict()
        #expect(sd.keys == expectedKeys)
        var expectedMetadata: Metadata = [:]
        for (name, value) in fixture.metadata { expectedMetadata[name] = metadataValue(value) }
        #expect(sd.metadata == expectedMetadata)
        for expected in fixture.tensors {
            let key = expected["key"] as! String
            let tensor = try #require(sd[key])
            #expect(tensor.dtype.rawValue == expected["dtype"] as! String, "\(key)")
            #expect(tensor.shape == (expected["shape"] as! [NSNumber]).map(\.intValue), "\(key)")
            #expect(tensor.withUnsafeBytes { Array($0) } == hexBytes(expected["hex"] as! String), "\(key)")
            var tensorMetadata: Metadata = [:]
            for (name, value) in expected["metadata"] as! [String: Any] { tensorMetadata[name] = metadataValue(value) }
            #expect(tensor.metadata == tensorMetadata, "\(key)")
            if let owner = expected["tied_to"] as? String {
                #expect(tensor.sharesStorage(with: sd[owner]!), "\(key) tied to \(owner)")
            }
        }
        // Untied keys never share storage.
        let untied = sd.keys.filter { key in !fixture.tensors.contains { $0["key"] as? String == key && $0["tied_to"] is String } }
        for (i, a) in untied.enumerated() {
            for b in untied[(i + 1)...] { #expect(!sd[a]!.sharesStorage(with: sd[b]!)) }
        }
        #expect(file.verify() == [])
        #expect(try file.stateDict(trustIndex: true) == sd, "the index-trusted load reads the same")
    }

    @Test("invalid fixtures raise their error", arguments: FormatFixture.all.filter { !$0.valid })
    func invalid(_ fixture: FormatFixture) throws {
        let path = fixturePath("format/" + fixture.path)
        let code = try #require(SheafError.Code(rawValue: fixture.error ?? ""), "unknown code \(fixture.error ?? "")")
        switch fixture.stage {
        case "open":
            let error = expectSheafError(code) { _ = try SheafFile(path: path) }
            #expect(error?.file == path)
        case "load":
            let file = try SheafFile(path: path)
            let error = expectSheafError(code) { _ = try file.stateDict() }
            #expect(error?.file == path)
            #expect(error?.key != nil)
        default:
            let file = try SheafFile(path: path)
            _ = try file.stateDict()
        }
        let problems = SheafFile.verify(path: path)
        #expect(problems.contains { $0.code == code }, "verify found \(problems)")
    }
}
