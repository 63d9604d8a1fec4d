import Foundation
import Testing

@Suite("Bad input through the binary: exit codes, messages, nothing left behind")
struct CheckCommandTests {
    @Test("hostile files exit 1 with the file and reason, and leave no output",
          arguments: interchangeManifest.files.filter { !$0.valid }.map(\.path))
    func hostile(_ path: String) throws {
        let folder = try TemporaryFolder()
        let record = try #require(interchangeManifest.record(path))
        let input = fixturePath("interchange/" + path)
        let result = try sheaf("convert", input, folder.file("out.sheaf"))
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("sheaf: error: \(input)"), "\(result.stderr)")
        #expect(result.stderr.contains(record.message_contains ?? "\u{0}"), "\(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
        #expect(folder.contents.isEmpty, "left \(folder.contents)")
        #expect(try sheaf("inspect", input).status == 1)
    }

    @Test("verify prints OK, each problem with its key, or that an HDF5 file is not Sheaf")
    func verify() throws {
        let ok = try sheaf("verify", fixturePath("format/valid/tied.sheaf"), fixturePath("format/valid/deflate.sheaf"))
        #expect(ok.status == 0)
        #expect(ok.stdout.split(separator: "\n").count == 2 && ok.stdout.contains(": OK"))
        let bad = try sheaf("verify", fixturePath("format/invalid/checksum_mismatch.sheaf"))
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("key 'x'") && bad.stdout.contains("checksum mismatch"))
        let plain = try sheaf("verify", fixturePath("format/invalid/plain_hdf5.h5"))
        #expect(plain.status == 1 && plain.stdout.contains("not a Sheaf file"))
        let json = try sheaf("verify", "--json", fixturePath("format/invalid/unindexed_dataset.sheaf"))
        #expect(json.status == 1)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(parsed?.first?["ok"] as? Bool == false)
        let missing = try sheaf("verify", "/no/such/file.sheaf")
        #expect(missing.status == 2)
    }

    @Test("usage errors exit 2")
    func usage() throws {
        #expect(try sheaf("convert").status == 2)
        #expect(try sheaf("convert", "/no/such/input.npy", "/tmp/x.sheaf").status == 2)
        #expect(try sheaf("diff", "a").status == 2)
        #expect(try sheaf("frobnicate").status == 2)
    }

    @Test("diff reports keys, shapes and values; tolerances decide")
    func diff() throws {
        let folder = try TemporaryFolder()
        let a = fixturePath("interchange/torch/mlp.params")
        #expect(try sheaf("convert", a, folder.file("a.sheaf")).status == 0)
        let same = try sheaf("diff", a, folder.file("a.sheaf"))
        #expect(same.status == 0 && same.stdout.contains("equal: 4 tensors"))
        let other = try sheaf("diff", a, fixturePath("interchange/torch/seed_mlp.params"))
        #expect(other.status == 1)
        #expect(other.stdout.contains("hidden.weight:") && other.stdout.contains("max abs"))
        let keys = try sheaf("diff", a, fixturePath("interchange/torch/seed_mlp_wrong.params"))
        #expect(keys.status == 1)
        #expect(keys.stdout.contains("only in") && keys.stdout.contains("shape [256, 20] vs [128, 20]"))
        let half = try sheaf("diff", fixturePath("interchange/torch/seed_mlp.params"), fixturePath("interchange/torch/seed_mlp_float16.params"))
        #expect(half.status == 1 && half.stdout.contains("dtype float32 vs float16"))
    }

    @Test("inspect works on every input format")
    func inspect() throws {
        for input in ["torch/tied.pt", "numpy/deflated.npz", "safetensors/all_dtypes.safetensors", "hdf5/keras_like.h5", "numpy/fortran.npy"] {
            let result = try sheaf("inspect", fixturePath("interchange/" + input))
            #expect(result.status == 0, "\(input): \(result.stderr)")
            #expect(result.stdout.contains("key") && result.stdout.contains("dtype"))
        }
        let tied = try sheaf("inspect", fixturePath("interchange/torch/tied.pt"))
        #expect(tied.stdout.contains("embedding.weight") && tied.stdout.contains("head.weight"))
    }
}
