import Foundation
import Testing
@testable import Sheaf
@testable import SheafInterchange

/// One file of Fixtures/interchange/manifest.json.
struct InterchangeFixture: CustomTestStringConvertible, Sendable {
    let record: ManifestRecord
    var path: String { record.path }
    var testDescription: String { path }
    var fullPath: String { fixturePath("interchange/" + path) }
    var format: InterchangeFormat? { record.format.flatMap(InterchangeFormat.init(rawValue:)) }
    var raw: Interchange.RawLayout? {
        guard let raw = record.raw, let dtype = raw["dtype"].flatMap(DType.init(rawValue:)), let shape = raw["shape"] else { return nil }
        return Interchange.RawLayout(dtype: dtype, shape: shape.split(separator: ",").compactMap { Int($0) },
                                     bigEndian: raw["byte_order"] == "big")
    }

    static let valid = interchangeManifest.files.filter(\.valid).map(InterchangeFixture.init(record:))
    static let hostile = interchangeManifest.files.filter { !$0.valid }.map(InterchangeFixture.init(record:))

    func open() throws -> any TensorSource {
        try Interchange.open(path: fullPath, format: raw != nil ? .raw : nil, raw: raw)
    }
}

@Suite("Files written by PyTorch, NumPy, safetensors and h5py (Fixtures/interchange)")
struct InterchangeFixtureTests {
    @Test("the manifest covers every format and the hostile cases")
    func manifest() {
        let formats = Set(InterchangeFixture.valid.compactMap { $0.format })
        #expect(formats == [.torch, .npy, .npz, .safetensors, .hdf5, .raw])
        #expect(InterchangeFixture.hostile.count >= 20)
    }

    @Test("each valid file reads with the tool's keys, dtypes, shapes, bytes, ties and metadata",
          arguments: InterchangeFixture.valid)
    func valid(_ fixture: InterchangeFixture) throws {
        if fixture.raw == nil { #expect(try Interchange.detect(path: fixture.fullPath) == fixture.format) }
        let source = try fixture.open()
        #expect(source.kind.rawValue == fixture.record.kind)
        let expected = fixture.record.tensors ?? []
        #expect(source.entries.map(\.key) == expected.map(\.key))
        let sd = try source.stateDict()
        for want in expected {
            let key = want.key
            let tensor = try #require(sd[key], "\(key)")
            #expect(tensor.dtype.rawValue == want.dtype, "\(key)")
            #expect(tensor.shape == want.shape, "\(key)")
            #expect(tensor.withUnsafeBytes { Array($0) } == want.bytes, "\(key)")
            if let owner = want.tied_to {
                #expect(tensor.sharesStorage(with: sd[owner]!), "\(key) tied to \(owner)")
            }
        }
        var metadata: Metadata = [:]
        for (name, value) in fixture.record.metadata ?? [:] { metadata[name] = metadataValue(value) }
        if fixture.record.metadata_subset == true {
            for (name, value) in metadata { #expect(source.metadata[name] == value, "\(name)") }
        } else {
            #expect(source.metadata == metadata)
        }
        for note in fixture.record.notes_contain ?? [] {
            #expect(source.notes.contains { $0.contains(note) }, "notes \(source.notes) lack '\(note)'")
        }
    }

    @Test("each hostile file is refused with its error and nothing is executed", arguments: InterchangeFixture.hostile)
    func hostile(_ fixture: InterchangeFixture) throws {
        let code = try #require(SheafError.Code(rawValue: fixture.record.error ?? ""))
        let error = expectSheafError(code) { _ = try fixture.open().stateDict() }
        let contains = fixture.record.message_contains ?? ""
        #expect(error?.description.contains(contains) == true, "\(error.map { "\($0)" } ?? "no error") lacks '\(contains)'")
        #expect(error?.file == fixture.fullPath)
    }

    @Test("nested checkpoints keep their nesting as torch.load returns it, through Sheaf and back to PyTorch",
          arguments: ["torch/adam_checkpoint.pt", "torch/legacy_adam_checkpoint.pt"])
    func nesting(_ path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("interchange/manifest.json")))
        let files = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["files"] as? [[String: Any]])
        let record = try #require(files.first { $0["path"] as? String == path }?["nesting"])
        let expected = try JSONDecoder().decode(CheckpointNode.self, from: JSONSerialization.data(withJSONObject: record))
        let source = try Interchange.open(path: fixturePath("interchange/" + path))
        #expect(source.structure == expected)
        // Sheaf keeps it (version 1.1; 1.4 when, as here, small tensors are packed), and a .pt
        // written from Sheaf reads back with it.
        let folder = try TemporaryFolder()
        _ = try Exporter.export(source, to: folder.file("c.sheaf"), as: .sheaf)
        let file = try SheafFile(path: folder.file("c.sheaf"))
        #expect(file.structure == expected && file.version == FormatLayout.packedVersion)
        #expect(file.verify() == [])
        _ = try Exporter.export(try Interchange.open(path: folder.file("c.sheaf")), to: folder.file("c.pt"), as: .torch)
        let back = try Interchange.open(path: folder.file("c.pt"))
        #expect(back.structure == expected)
        #expect(try back.stateDict() == (try source.stateDict()))
        // A flat format says what it leaves out.
        let flat = try Exporter.export(source, to: folder.file("c.safetensors"), as: .safetensors)
        #expect(flat.notes.contains { $0.contains("nesting") })
    }

    @Test("the restricted unpickler never runs what a pickle names")
    func nothingExecuted() throws {
        // Executed, the crafted pickle would run `touch MARKER` through os.system.
        let marker = "/tmp/sheaf-security-pickle-ran"
        unlink(marker)
        let fixture = fixturePath("security/pickle_os_system_marker.pt")
        #expect(try String(decoding: Data(contentsOf: URL(fileURLWithPath: fixture)), as: UTF8.self).contains("touch " + marker))
        let error = expectSheafError(.unsupported) { _ = try Interchange.open(path: fixture).stateDict() }
        #expect(error?.message.contains("os.system") == true)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}
