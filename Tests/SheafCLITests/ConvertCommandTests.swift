import Foundation
import Testing
import Sheaf

@Suite("sheaf convert, verify, inspect and diff, run as the real binary")
struct ConvertCommandTests {
    static let inputs = [
        "torch/x-file", "torch/x-files", "torch/mydict", "torch/mlp.params", "torch/all_dtypes.pt", "torch/views.pt",
        "torch/tied.pt", "torch/training_checkpoint.pt", "torch/parameter.pt", "numpy/v1.npy", "numpy/v2.npy",
        "numpy/v3.npy", "numpy/big_endian.npy", "numpy/fortran.npy", "numpy/scalar.npy", "numpy/empty.npy",
        "numpy/stored.npz", "numpy/deflated.npz", "safetensors/all_dtypes.safetensors", "hdf5/keras_like.h5",
        "format/valid/all_dtypes.sheaf", "format/valid/big_endian.sheaf", "format/valid/tied.sheaf",
        "folders/hf_sharded", "folders/hf_sharded/model.safetensors.index.json", "folders/hf_single", "folders/hf_torch_sharded",
        "torch/legacy_mlp.params", "torch/legacy_views.pt", "torch/legacy_tied.pt",
    ]

    @Test("help lists every subcommand")
    func help() throws {
        let result = try sheaf("--help")
        #expect(result.status == 0)
        for command in ["convert", "verify", "inspect", "diff"] { #expect(result.stdout.contains(command)) }
        #expect(try sheaf("--version").stdout.contains("sheaf 1.0"))
    }

    @Test("every readable input converts to Sheaf, verifies, and diffs equal to its source", arguments: inputs)
    func toSheaf(_ input: String) throws {
        let folder = try TemporaryFolder()
        let source = input.hasPrefix("format/") ? fixturePath(input) : fixturePath("interchange/" + input)
        let output = folder.file("out.sheaf")
        let converted = try sheaf("convert", source, output)
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(converted.stdout.contains("converted"))
        let verified = try sheaf("verify", output)
        #expect(verified.status == 0 && verified.stdout.contains("OK"), "\(verified.stdout)")
        let diff = try sheaf("diff", source, output)
        #expect(diff.status == 0, "\(diff.stdout)\(diff.stderr)")
        let inspected = try sheaf("inspect", "--json", output)
        let json = try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as? [String: Any]
        #expect(json?["format"] as? String == "sheaf")
    }

    @Test("a Hugging Face folder converts to Sheaf and back to a folder of shards by transformers' rules, config.json byte for byte",
          .enabled(if: pythonAvailable, "needs the test virtual environment (scripts/test.sh makes it)"))
    func modelFolders() throws {
        let python = try #require(testPython, "CI must provide .venv/bin/python")
        let folder = try TemporaryFolder()
        for (index, input) in ["folders/hf_sharded", "folders/hf_single"].enumerated() {
            let original = fixturePath("interchange/" + input)
            let middle = folder.file("\(index).sheaf")
            #expect(try sheaf("convert", original, middle).status == 0)
            for (size, bytes) in [("1KB", "1000"), ("5GB", "5000000000")] {
                let out = folder.file("\(index)-\(size)")
                let converted = try sheaf("convert", middle, out, "--shard-size", size)
                #expect(converted.status == 0, "\(converted.stderr)")
                let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
                #expect(names.contains("config.json"))
                #expect(names.contains("model.safetensors") == (size == "5GB"), "\(names)")
                let check = try runProcess(python, [repositoryRoot + "/Tests/Python/check_model_folder.py", out, original, bytes])
                #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
                #expect(try sheaf("diff", out, original).status == 0)
            }
        }
        // From PyTorch shards, which carry no safetensors metadata: the shards still say format = pt.
        let fromTorch = folder.file("torch-hf")
        #expect(try sheaf("convert", fixturePath("interchange/folders/hf_torch_sharded"), fromTorch, "--shard-size", "10KB").status == 0)
        let torchCheck = try runProcess(python, [repositoryRoot + "/Tests/Python/check_model_folder.py", fromTorch, "-", "10000"])
        #expect(torchCheck.status == 0, "\(torchCheck.stdout)\(torchCheck.stderr)")
        #expect(try sheaf("diff", fromTorch, fixturePath("interchange/folders/hf_torch_sharded")).status == 0)
        // An existing folder is kept unless --force; nothing half-written is left either way.
        let out = folder.file("0-1KB")
        let again = try sheaf("convert", folder.file("0.sheaf"), out, "--shard-size", "2KB")
        #expect(again.status == 1 && again.stderr.contains("--force"), "\(again.stderr)")
        #expect(try sheaf("convert", folder.file("0.sheaf"), out, "--shard-size", "2KB", "--force").status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix("model-") }.count == 2)
        #expect(try sheaf("convert", folder.file("0.sheaf"), folder.file("x.npz"), "--shard-size", "1KB").status == 2)
        #expect(!folder.contents.contains { $0.hasPrefix(".sheaf-tmp-") }, "\(folder.contents)")
        let missing = try sheaf("convert", folder.file("0.sheaf"), folder.file("no/such/out.sheaf"))
        #expect(missing.status == 1 && missing.stderr.contains("the folder") && missing.stderr.contains("does not exist"), "\(missing.stderr)")
    }

    @Test("a sharded Sheaf set: written with --shard-size, read as one state dict by inspect, verify, diff, convert and run")
    func sheafSets() throws {
        let folder = try TemporaryFolder()
        let original = fixturePath("interchange/torch/adam_checkpoint.pt")
        let converted = try sheaf("convert", original, folder.file("m.sheaf"), "--shard-size", "100B")
        #expect(converted.status == 0, "\(converted.stderr)")
        let index = folder.file("m.sheaf.index.json")
        let shards = folder.contents.filter { $0.hasSuffix(".sheaf") }
        let count = "0000\(shards.count)"
        #expect(shards.count >= 3 && shards.first == "m-00001-of-\(count).sheaf", "\(folder.contents)")
        #expect(try sheaf("verify", index).stdout.contains(": OK"))
        #expect(try sheaf("diff", index, original).status == 0)
        let inspected = try sheaf("inspect", index)
        #expect(inspected.status == 0 && inspected.stdout.contains("set 1.1, \(shards.count) shards"), "\(inspected.stdout)")
        #expect(try sheaf("convert", index, folder.file("back.pt")).status == 0)
        #expect(try sheaf("diff", folder.file("back.pt"), original).status == 0)
        // A substituted shard is named by verify and refused by the readers.
        let second = "m-00002-of-\(count).sheaf"
        #expect(try sheaf("convert", fixturePath("interchange/torch/mlp.params"), folder.file(second), "--force").status == 0)
        let damaged = try sheaf("verify", index)
        #expect(damaged.status == 1 && damaged.stdout.contains(second), "\(damaged.stdout)")
        #expect(try sheaf("inspect", index).status == 1)
    }

    @Test("a distributed checkpoint's master: inspect, verify, diff and convert read it as one state dict; a broken one exits 1")
    func distributedCheckpoints() throws {
        let folder = try TemporaryFolder()
        let master = fixturePath("distributed/valid/checkpoint.sheaf")
        let inspected = try sheaf("inspect", master)
        #expect(inspected.status == 0 && inspected.stdout.contains("1.3, distributed over 2 ranks") && inspected.stdout.contains("2 pieces"),
                "\(inspected.stdout)")
        #expect(try sheaf("verify", master).stdout.contains(": OK"))
        let converted = try sheaf("convert", master, folder.file("whole.sheaf"))
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(try sheaf("diff", master, folder.file("whole.sheaf")).status == 0)
        #expect(try sheaf("convert", master, folder.file("whole.safetensors")).status == 0)
        #expect(try sheaf("diff", folder.file("whole.safetensors"), master).status == 0)
        // Without isolation too (the master is read by its path in this process then).
        #expect(try sheaf("verify", "--no-isolate", master).stdout.contains(": OK"))
        let stale = try sheaf("verify", fixturePath("distributed/stale_shard/checkpoint.sheaf"))
        #expect(stale.status == 1 && stale.stdout.contains("not the file this checkpoint was saved with"), "\(stale.stdout)")
        let outside = try sheaf("convert", fixturePath("distributed/outside_folder/checkpoint.sheaf"), folder.file("out.sheaf"))
        #expect(outside.status == 1 && outside.stderr.contains("not a file name in the master's folder"), "\(outside.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("out.sheaf")))
    }

    @Test("Sheaf converts back to PyTorch checkpoints: same keys, dtypes, shapes, bytes and ties; the loader's rules hold",
          .enabled(if: pythonAvailable, "needs the test virtual environment (scripts/test.sh makes it)"))
    func toTorch() throws {
        let python = try #require(testPython, "CI must provide .venv/bin/python")
        let folder = try TemporaryFolder()
        var pairs: [String] = []
        for input in ["torch/all_dtypes.pt", "torch/tied.pt", "torch/views.pt", "torch/x-file", "torch/x-files",
                      "torch/legacy_mlp.params", "folders/hf_torch_sharded", "torch/training_checkpoint.pt",
                      "torch/adam_checkpoint.pt", "torch/legacy_adam_checkpoint.pt"] {
            let original = fixturePath("interchange/" + input)
            let name = input.replacingOccurrences(of: "/", with: "_")
            let middle = folder.file(name + ".sheaf"), back = folder.file(name + ".pt")
            #expect(try sheaf("convert", original, middle).status == 0)
            let converted = try sheaf("convert", middle, back)
            #expect(converted.status == 0, "\(converted.stderr)")
            let diff = try sheaf("diff", original, back)
            #expect(diff.status == 0, "\(input): \(diff.stdout)")
            // Ties come back as ties.
            let inspected = try sheaf("inspect", "--json", back)
            if input == "torch/tied.pt" { #expect(inspected.stdout.contains("\"tied_to\" : \"embedding.weight\"") || inspected.stdout.contains("\"tied_to\": \"embedding.weight\""), "\(inspected.stdout)") }
            if !input.hasPrefix("folders/") && !input.contains("legacy") { pairs += [original, back] }
        }
        let check = try runProcess(python, [repositoryRoot + "/Tests/Python/check_torch_zip.py"] + pairs)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }

    @Test("Sheaf converts back to every format that can hold it, bit-exact as the original tools read it",
          .enabled(if: pythonAvailable, "needs the test virtual environment (scripts/test.sh makes it)"))
    func roundTrips() throws {
        let python = try #require(testPython, "CI must provide .venv/bin/python")
        let folder = try TemporaryFolder()
        var pairs: [String] = []
        let cases: [(String, [String])] = [
            ("numpy/v1.npy", ["npy", "npz", "safetensors"]),
            ("numpy/fortran.npy", ["npy", "npz"]),
            ("numpy/big_endian.npy", ["npy"]),
            ("numpy/scalar.npy", ["npy", "safetensors"]),
            ("numpy/empty.npy", ["npy", "npz"]),
            ("numpy/stored.npz", ["npz"]),
            ("numpy/deflated.npz", ["npz"]),
            ("safetensors/all_dtypes.safetensors", ["safetensors"]),
        ]
        for (index, (input, targets)) in cases.enumerated() {
            let source = fixturePath("interchange/" + input)
            let middle = folder.file("\(index).sheaf")
            #expect(try sheaf("convert", source, middle).status == 0)
            for target in targets {
                let back = folder.file("\(index).\(target)")
                let result = try sheaf("convert", middle, back)
                #expect(result.status == 0, "\(input) -> \(target): \(result.stderr)")
                pairs += [source, back]
            }
            pairs += [source, middle]  // the Sheaf copy, read by h5py, against the original tool's reader
        }
        // PyTorch checkpoints (no torch here): the Sheaf copies, read by h5py, against the tensors
        // torch itself recorded in the manifest; a safetensors copy against the Sheaf copy.
        for input in ["torch/mlp.params", "torch/all_dtypes.pt"] {
            let middle = folder.file(input.replacingOccurrences(of: "/", with: "_") + ".sheaf")
            #expect(try sheaf("convert", fixturePath("interchange/" + input), middle).status == 0)
            pairs += ["manifest:" + input, middle]
            if input.hasSuffix("mlp.params") {
                let st = middle + ".safetensors"
                #expect(try sheaf("convert", middle, st).status == 0)
                pairs += [middle, st]
            }
        }
        let result = try runProcess(python, [repositoryRoot + "/Tests/Python/check_roundtrip.py"] + pairs)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(" 0 failed"))
    }

    @Test("raw dumps need their layout; a raw output writes a JSON sidecar")
    func raw() throws {
        let folder = try TemporaryFolder()
        let input = fixturePath("interchange/raw/big_i16_4.bin")
        let missing = try sheaf("convert", input, folder.file("x.sheaf"), "--from", "raw")
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("--shape"))
        let ok = try sheaf("convert", input, folder.file("x.sheaf"), "--shape", "4", "--dtype", "int16", "--byte-order", "big")
        #expect(ok.status == 0, "\(ok.stderr)")
        let wrong = try sheaf("convert", input, folder.file("y.sheaf"), "--shape", "5", "--dtype", "int16")
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("needs 10 bytes, the file has 8"))
        let back = try sheaf("convert", folder.file("x.sheaf"), folder.file("x.bin"))
        #expect(back.status == 0)
        #expect(back.stdout.contains("int16 [4]"))
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("x.bin.json")))) as? [String: Any]
        #expect(sidecar?["dtype"] as? String == "int16" && sidecar?["byte_order"] as? String == "little")
        #expect(sidecar?["shape"] as? [Int] == [4])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder.file("x.bin")))
        #expect(Array(bytes) == [0, 0, 1, 0, 2, 0, 3, 0])
    }

    @Test("targets that cannot hold something refuse and name the lossless flag")
    func refusals() throws {
        let folder = try TemporaryFolder()
        let all = fixturePath("interchange/torch/all_dtypes.pt")
        let npz = try sheaf("convert", all, folder.file("a.npz"))
        #expect(npz.status == 1)
        #expect(npz.stderr.contains("--widen"))
        #expect(folder.contents.isEmpty)
        let widened = try sheaf("convert", all, folder.file("a.npz"), "--widen")
        #expect(widened.status == 0, "\(widened.stderr)")
        let tied = try sheaf("convert", fixturePath("interchange/torch/tied.pt"), folder.file("t.safetensors"))
        #expect(tied.status == 1)
        #expect(tied.stderr.contains("--untie"))
        #expect(try sheaf("convert", fixturePath("interchange/torch/tied.pt"), folder.file("t.safetensors"), "--untie").status == 0)
        let complex = try sheaf("convert", all, folder.file("c.safetensors"))
        #expect(complex.status == 1 && complex.stderr.contains("complex128"))
        let many = try sheaf("convert", all, folder.file("m.npy"), "--widen")
        #expect(many.status == 1 && many.stderr.contains("exactly one tensor"))
        // An existing output is kept unless --force.
        let keep = folder.file("keep.sheaf")
        #expect(try sheaf("convert", fixturePath("interchange/torch/x-file"), keep).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: keep))
        let again = try sheaf("convert", fixturePath("interchange/torch/mydict"), keep)
        #expect(again.status == 1 && again.stderr.contains("--force"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: keep)) == before)
        #expect(try sheaf("convert", fixturePath("interchange/torch/mydict"), keep, "--force").status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: keep)) != before)
    }

    @Test("a nested training checkpoint is flattened and the output says so")
    func flattening() throws {
        let folder = try TemporaryFolder()
        let result = try sheaf("convert", fixturePath("interchange/torch/training_checkpoint.pt"), folder.file("c.sheaf"))
        #expect(result.status == 0)
        #expect(result.stdout.contains("flattened a nested checkpoint"))
        #expect(result.stdout.contains("epoch (int)"))
        let inspected = try sheaf("inspect", folder.file("c.sheaf"))
        #expect(inspected.stdout.contains("model.hidden.weight"))
        #expect(inspected.stdout.contains("epoch (int) = 3"))
    }

    @Test("compression is honoured and the result verifies")
    func compression() throws {
        let folder = try TemporaryFolder()
        let result = try sheaf("convert", fixturePath("interchange/torch/mlp.params"), folder.file("z.sheaf"), "--compress", "deflate:6")
        #expect(result.status == 0)
        #expect(try sheaf("inspect", folder.file("z.sheaf")).stdout.contains("deflate"))
        #expect(try sheaf("verify", folder.file("z.sheaf")).status == 0)
        #expect(try sheaf("convert", fixturePath("interchange/torch/mlp.params"), folder.file("q.sheaf"), "--compress", "zstd").status == 2)
    }

    @Test("packing: small tensors packed by default, --pack-below moves the threshold, --no-pack writes one dataset per tensor")
    func packing() throws {
        let folder = try TemporaryFolder()
        let input = fixturePath("interchange/torch/mlp.params")  // hidden.weight 20 KiB, the rest smaller
        #expect(try sheaf("convert", input, folder.file("default.sheaf")).status == 0)
        #expect(try sheaf("convert", input, folder.file("none.sheaf"), "--no-pack").status == 0)
        #expect(try sheaf("convert", input, folder.file("1k.sheaf"), "--pack-below", "1KiB").status == 0)
        let packed = try SheafFile(path: folder.file("default.sheaf"))
        #expect(packed.version == "1.4" && packed.entries.allSatisfy { $0.storage == .packed })
        let none = try SheafFile(path: folder.file("none.sheaf"))
        #expect(none.version != "1.4" && none.entries.allSatisfy { $0.storage == .contiguous })
        let small = try SheafFile(path: folder.file("1k.sheaf"))
        #expect(small.entries.map(\.storage) == small.entries.map { $0.byteCount < 1024 ? .packed : .contiguous })
        #expect(small.entries.contains { $0.storage == .packed } && small.entries.contains { $0.storage == .contiguous })
        for name in ["default.sheaf", "none.sheaf", "1k.sheaf"] {
            #expect(try sheaf("verify", folder.file(name)).status == 0)
            #expect(try sheaf("diff", folder.file(name), input).status == 0)
        }
        #expect(try sheaf("convert", input, folder.file("x.sheaf"), "--no-pack", "--pack-below", "1KiB").status == 2)
        #expect(try sheaf("convert", input, folder.file("x.safetensors"), "--no-pack").status == 2)
    }
}
