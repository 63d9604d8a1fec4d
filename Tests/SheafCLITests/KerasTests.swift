import Foundation
import Testing
import Sheaf
import SheafInterchange

/// Keras 3 files that Keras itself wrote (Fixtures/make_keras_fixtures.py).
@Suite("Keras: .keras archives in, .weights.h5 out", .serialized)
struct KerasTests {
    struct Manifest: Decodable {
        struct Entry: Decodable { let key: String; let dtype: String; let shape: [Int]; let hex: String }
        let entries: [Entry]
        let group_attributes: [String: String]
        let config_json: String
    }

    static let folder = fixturePath("interchange/keras/")

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "manifest.json")))
    }

    static func hex(_ tensor: Tensor) -> String {
        tensor.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
    }

    @Test("a .keras archive reads as its weights, bit for bit, with config.json and the group attributes as metadata")
    func archive() throws {
        let manifest = try Self.manifest()
        let source = try Interchange.open(path: Self.folder + "mlp.keras")
        #expect(source.format == .keras)
        #expect(source.entries.count == manifest.entries.count)
        let state = try source.stateDict()
        for entry in manifest.entries {
            let tensor = try #require(state[entry.key], "missing \(entry.key)")
            #expect(tensor.shape == entry.shape && Self.hex(tensor) == entry.hex, "\(entry.key)")
        }
        #expect(state.metadata["keras_config"] == .string(manifest.config_json))
        if case .string(let text)? = state.metadata["keras_metadata"] { #expect(text.contains("keras_version")) } else { Issue.record("no keras_metadata") }
        for (key, value) in manifest.group_attributes { #expect(state.metadata[key] == .string(value), "\(key)") }
        // Keras' own .weights.h5 of the same model reads as the same tensors.
        let direct = try Interchange.loadStateDict(path: Self.folder + "mlp.weights.h5")
        #expect(Array(direct.keys) == Array(state.keys))
        for (key, tensor) in direct { #expect(tensor == state[key]!, "\(key)") }
        // Nothing of the temporary copy is left (the suite runs serially, so no other read is in flight).
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()).filter { $0.hasPrefix("sheaf-keras-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("Sheaf -> .weights.h5 has Keras' own layout, and Keras loads it into the model (when installed)",
          .enabled(if: pythonAvailable, "needs the test virtual environment (scripts/test.sh makes it)"))
    func exportWeights() throws {
        let python = try #require(testPython, "CI must provide .venv/bin/python")
        let folder = try TemporaryFolder()
        #expect(try sheaf("convert", Self.folder + "mlp.keras", folder.file("mlp.sheaf")).status == 0)
        let out = folder.file("mlp.weights.h5")
        let converted = try sheaf("convert", folder.file("mlp.sheaf"), out)
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect((converted.stdout + converted.stderr).contains("(keras)") && (converted.stdout + converted.stderr).contains("keras_config, keras_metadata"), "\(converted.stdout)\(converted.stderr)")
        let check = try runProcess(python, [repositoryRoot + "/Tests/Python/check_keras_weights.py", out, Self.folder + "mlp.weights.h5",
                                            Self.folder + "mlp.keras", Self.folder + "mlp_input.npy", Self.folder + "mlp_output.npy"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("same layout as Keras' own file"))
        #expect(try sheaf("diff", out, Self.folder + "mlp.weights.h5").status == 0)
        // A whole archive back: Keras' members, its JSON files, its weights layout.
        let archive = folder.file("mlp.keras")
        #expect(try sheaf("convert", folder.file("mlp.sheaf"), archive).status == 0)
        let archiveCheck = try runProcess(python, [repositoryRoot + "/Tests/Python/check_keras_weights.py", "--archive", archive,
                                                   Self.folder + "mlp.keras", Self.folder + "mlp_input.npy", Self.folder + "mlp_output.npy"])
        #expect(archiveCheck.status == 0, "\(archiveCheck.stdout)\(archiveCheck.stderr)")
        #expect(try sheaf("diff", archive, Self.folder + "mlp.keras").status == 0)
        // Without the model's config there is no archive to write: named, nothing written.
        #expect(try sheaf("convert", Self.folder + "mlp.weights.h5", folder.file("bare.sheaf")).status == 0)
        let bare = try sheaf("convert", folder.file("bare.sheaf"), folder.file("bare.keras"))
        #expect(bare.status == 1 && bare.stderr.contains("needs the model's keras_config"), "\(bare.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("bare.keras")))
        // bfloat16 has no Keras weight-file dtype: refused unless widened.
        #expect(try sheaf("convert", fixturePath("interchange/folders/hf_single"), folder.file("hf.sheaf")).status == 0)
        let refused = try sheaf("convert", folder.file("hf.sheaf"), folder.file("hf.weights.h5"))
        #expect(refused.status == 1 && refused.stderr.contains("--widen"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("hf.weights.h5")))
        #expect(try sheaf("convert", folder.file("hf.sheaf"), folder.file("hf.weights.h5"), "--widen").status == 0)
    }

    @Test("hostile weights inside an archive are refused as they are outside, naming the archive; a zip without weights is named",
          arguments: ["h5_external_link", "h5_virtual_other_file", "h5_external_absolute"])
    func hostileWeights(_ name: String) throws {
        let archive = Self.folder + "hostile_\(name).keras"
        let result = try sheaf("convert", archive, try TemporaryFolder().file("out.sheaf"))
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("sheaf: error: \(archive) (model.weights.h5): key '"), "\(result.stderr)")
        #expect(result.stderr.contains("reads only") && !result.stderr.contains("/sheaf-keras-"), "\(result.stderr)")
    }

    @Test("a zip read as .keras without model.weights.h5 is refused by name")
    func hostile() throws {
        let folder = try TemporaryFolder()
        // An .npz is a zip without the weights member: read as .keras, it is named.
        let result = try sheaf("inspect", fixturePath("interchange/numpy/stored.npz"), "--from", "keras")
        #expect(result.status == 1 && result.stderr.contains("without model.weights.h5"), "\(result.stderr)")
        _ = folder
    }
}
