import Foundation
import Testing
@testable import Sheaf

/// A manifest metadata value (`{"type": …, "value": …}`) as a MetadataValue.
func metadataValue(_ json: JSONValue) -> MetadataValue? {
    guard let object = json.object, let type = object["type"]?.string, let value = object["value"] else { return nil }
    switch type {
    case "string": return value.string.map { .string($0) }
    case "int": return value.int.map { .int($0) }
    case "float": return value.double.map { .float($0) }
    case "bool": return value.bool.map { .bool($0) }
    case "list[string]": return value.array.map { .strings($0.compactMap(\.string)) }
    case "list[int]": return value.array.map { .ints($0.compactMap(\.int)) }
    case "list[float]": return value.array.map { .floats($0.compactMap(\.double)) }
    case "list[bool]": return value.array.map { .bools($0.compactMap(\.bool)) }
    default: return nil
    }
}

/// One file of Fixtures/format/manifest.json.
struct FormatFixture: CustomTestStringConvertible, Sendable {
    let record: ManifestRecord
    var path: String { record.path }
    var testDescription: String { path }
    var valid: Bool { record.valid }
    var error: String? { record.error }
    var stage: String? { record.stage }
    var kind: String? { record.kind }
    var tensors: [ManifestTensor] { record.tensors ?? [] }
    var metadata: [String: JSONValue] { record.metadata ?? [:] }

    static let all: [FormatFixture] = formatManifest.files.map(FormatFixture.init(record:))
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
        let expectedKeys = fixture.tensors.map(\.key)
        #expect(file.keys == expectedKeys)
        let sd = try file.stateDict()
        #expect(sd.keys == expectedKeys)
        var expectedMetadata: Metadata = [:]
        for (name, value) in fixture.metadata { expectedMetadata[name] = metadataValue(value) }
        #expect(sd.metadata == expectedMetadata)
        for expected in fixture.tensors {
            let key = expected.key
            let tensor = try #require(sd[key])
            #expect(tensor.dtype.rawValue == expected.dtype, "\(key)")
            #expect(tensor.shape == expected.shape, "\(key)")
            #expect(tensor.withUnsafeBytes { Array($0) } == expected.bytes, "\(key)")
            var tensorMetadata: Metadata = [:]
            for (name, value) in expected.metadata ?? [:] { tensorMetadata[name] = metadataValue(value) }
            #expect(tensor.metadata == tensorMetadata, "\(key)")
            if let owner = expected.tied_to {
                #expect(tensor.sharesStorage(with: sd[owner]!), "\(key) tied to \(owner)")
            }
        }
        // Untied keys never share storage.
        let untied = sd.keys.filter { key in !fixture.tensors.contains { $0.key == key && $0.tied_to != nil } }
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
            // Loads trust the index (Spec §8): a disagreement only verify finds either
            // loads (the index's view, checksums verified) or fails its checksum.
            let file = try SheafFile(path: path)
            if let loadError = fixture.record.load_error {
                let loadCode = try #require(SheafError.Code(rawValue: loadError))
                let error = expectSheafError(loadCode) { _ = try file.stateDict() }
                #expect(error?.file == path)
            } else {
                _ = try file.stateDict()
            }
            // Index/dataset disagreements: the per-dataset cross-check, when asked for, finds them while loading.
            if ["invalid/dtype_mismatch.sheaf", "invalid/bfloat16_as_float16_type.sheaf", "invalid/shape_mismatch.sheaf",
                "invalid/wrong_offset.sheaf", "invalid/packed_wrong_offset.sheaf", "invalid/packed_arena_dtype.sheaf",
                "invalid/packed_missing_arena.sheaf", "invalid/packed_outside_arena.sheaf",
                "invalid/packed_external_arena.sheaf"].contains(fixture.path) {
                let error = expectSheafError(code) { _ = try file.stateDict(trustIndex: false) }
                #expect(error?.key != nil)
            }
        }
        let problems = SheafFile.verify(path: path)
        #expect(problems.contains { $0.code == code }, "verify found \(problems)")
    }
}
