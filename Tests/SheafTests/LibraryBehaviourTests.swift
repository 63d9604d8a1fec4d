import Foundation
import Testing
import SheafHDF5
@testable import Sheaf

@Suite("Library guarantees: ties, metadata, determinism, atomicity, errors, handles")
struct LibraryBehaviourTests {
    @Test("tied tensors are written once and load back sharing storage")
    func tied() throws {
        let folder = try TemporaryFolder()
        let w = try sampleTensor(.float32, shape: [1000, 100])
        var sd = StateDict()
        sd["emb.weight"] = w
        sd["head.weight"] = w
        sd["copy"] = try Tensor(dtype: .float32, shape: [1000, 100]) { buffer in w.withUnsafeBytes { buffer.copyMemory(from: $0) } }
        #expect(sd.tiedKeys.map(\.key) == ["head.weight"])
        try sd.save(to: folder.file("tied.sheaf"))
        let size = try FileManager.default.attributesOfItem(atPath: folder.file("tied.sheaf"))[.size] as! Int
        #expect(size < 2 * 400_000 + 64 * 1024, "the tied tensor must be stored once, file is \(size) bytes")
        let loaded = try StateDict(contentsOf: folder.file("tied.sheaf"))
        #expect(loaded["head.weight"]!.sharesStorage(with: loaded["emb.weight"]!))
        #expect(!loaded["copy"]!.sharesStorage(with: loaded["emb.weight"]!))
        #expect(loaded == sd)
        let file = try SheafFile(path: folder.file("tied.sheaf"))
        #expect(try file.entry("head.weight").tiedTo == "emb.weight")
        #expect(file.verify() == [])
        // Mutating one copy unties it (copy on write) and the next save stores both.
        var mutated = loaded
        var head = mutated["head.weight"]!
        head.withUnsafeMutableBytes { $0[0] ^= 1 }
        mutated["head.weight"] = head
        #expect(mutated.tiedKeys.isEmpty)
        #expect(!head.bitwiseEqual(loaded["emb.weight"]!))
    }

    @Test("typed metadata round-trips with its types")
    func metadata() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        var t = Tensor(arange: 3)
        t.metadata = ["unit": "cm", "n": 3, "x": 1.5, "ok": false, "l": .ints([]), "s": .strings(["a", "b"])]
        sd["t"] = t
        sd.metadata = ["epoch": .int(Int64.max), "lr": .float(-0.0), "note": "ünïcode ✓", "flag": true,
                       "floats": .floats([.infinity, 1e-300]), "bools": .bools([true]), "empty": .strings([])]
        try sd.save(to: folder.file("m.sheaf"))
        let loaded = try StateDict(contentsOf: folder.file("m.sheaf"))
        #expect(loaded.metadata == sd.metadata)
        #expect(loaded["t"]!.metadata == t.metadata)
        let file = try SheafFile(path: folder.file("m.sheaf"))
        #expect(try file.metadata(for: "t") == t.metadata)
        expectSheafError(.invalidMetadata) {
            var bad = sd
            bad.metadata["sheaf_version"] = "9"
            try bad.save(to: folder.file("bad.sheaf"))
        }
    }

    @Test("the same content saved twice gives byte-identical files")
    func determinism() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        for (i, dtype) in DType.allCases.enumerated() { sd["t\(i)"] = try sampleTensor(dtype, shape: [4, 3], seed: UInt64(i)) }
        sd["tie"] = sd["t0"]
        sd.metadata = ["a": 1, "b": "two"]
        for options in [SaveOptions(), SaveOptions(compression: .deflate(level: 5))] {
            try sd.save(to: folder.file("a.sheaf"), options: options)
            Thread.sleep(forTimeInterval: 1.1)  // a timestamp would now differ
            try sd.save(to: folder.file("b.sheaf"), options: options)
            let a = try Data(contentsOf: URL(fileURLWithPath: folder.file("a.sheaf")))
            let b = try Data(contentsOf: URL(fileURLWithPath: folder.file("b.sheaf")))
            #expect(a == b)
        }
    }

    @Test("a failed save leaves the old file intact and no temporary file behind")
    func atomicSave() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("model.sheaf")
        var good = StateDict()
        good["w"] = Tensor(arange: 10)
        try good.save(to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        // A failure in the middle of the write (the second tensor cannot be
        // produced, after the first is in the temporary file) keeps the old file
        // byte for byte and leaves no temporary file.
        let midway = expectSheafError(.io) {
            try SheafWriter.write(kind: .dict, keys: ["a", "b"], tiedTo: [nil, nil], metadata: [:], to: path) {
                index throws(SheafError) -> Tensor in
                guard index == 0 else { throw SheafError(.io, "the source failed") }
                return Tensor(arange: 100_000)
            }
        }
        #expect(midway?.file == path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(folder.contents == ["model.sheaf"])
        // Refused before writing (a key, tied keys with different metadata): the same.
        var bad = StateDict()
        bad["ok"] = Tensor(arange: 3)
        bad[""] = Tensor(arange: 3)
        expectSheafError(.invalidKey) { try bad.save(to: path) }
        var tie = StateDict()
        var a = Tensor(arange: 3)
        tie["a"] = a
        a.metadata = ["x": 1]
        tie["b"] = a
        #expect(tie["a"]!.sharesStorage(with: tie["b"]!))
        let tied = expectSheafError(.invalidMetadata) { try tie.save(to: path) }
        #expect(tied?.message.contains("different metadata") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(folder.contents == ["model.sheaf"])
        // Saving into a folder that does not exist fails naming the output and the folder.
        let missing = expectSheafError(.io) { try good.save(to: folder.file("no/such/dir/x.sheaf")) }
        #expect(missing?.description.contains("no/such/dir/x.sheaf") == true)
        #expect(missing?.message.contains("the folder \(folder.path)/no/such/dir does not exist") == true)
        #expect(folder.contents == ["model.sheaf"])
    }

    @Test("keys with '/', '%' and '.' round-trip; empty keys are refused")
    func keys() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        for key in ["a/b", "%2F", "a%b", ".", "..", "x.y.z", "日本"] { sd[key] = Tensor(arange: 2) }
        try sd.save(to: folder.file("k.sheaf"))
        #expect(try StateDict(contentsOf: folder.file("k.sheaf")).keys == sd.keys)
        #expect(try FormatLayout.linkName(for: "a/b%") == "a%2Fb%25")
        expectSheafError(.invalidKey) { _ = try FormatLayout.linkName(for: "") }
        expectSheafError(.invalidKey) { _ = try FormatLayout.linkName(for: "a\u{0}b") }
    }

    @Test("the fast index reader agrees with JSONDecoder")
    func indexParser() throws {
        var sd = StateDict()
        for key in ["a/b", "é\"q\\", "tab\there", "emoji 🎉", ".", "x.y"] { sd[key] = Tensor(arange: 3) }
        sd["tied"] = sd["x.y"]
        var annotated = Tensor(arange: 2)
        annotated.metadata = ["m": 1]
        sd["annotated"] = annotated
        sd.metadata = ["note": "x"]
        let document = IndexDocument(tensors: sd.keys.enumerated().map { i, key in
            IndexEntry(key: key, dtype: "int64", shape: [3], nbytes: 24, offset: i % 2 == 0 ? 4096 * i : nil, storage: "contiguous",
                       checksum: "00112233445566ff", tied_to: key == "tied" ? "x.y" : nil, metadata: key == "annotated",
                       metadata_checksum: key == "annotated" ? "0123456789abcdef" : nil)
        }, metadata_checksum: "ffeeddccbbaa9988")
        let encoded = try JSON.encode(document)
        #expect(IndexParser.document(encoded) == document)
        let escaped = Array(#"{"tensors": [{"key": "\u00e9\ud83c\udf89\n", "dtype": "float32", "shape": [ 2 , 3 ], "nbytes": 24, "#.utf8)
            + Array(#""offset": null, "storage": "contiguous", "checksum": "0011223344556677", "metadata": false, "extra": {"a": [1.5e3, true]}}]}"#.utf8)
        let fast = try #require(IndexParser.document(escaped))
        #expect(fast == (try JSON.decode(IndexDocument.self, from: escaped, file: "x")))
        #expect(fast.tensors[0].key == "é🎉\n")
        for bad in ["", "{", "[]", #"{"tensors": [{"key": 1}]}"#, #"{"tensors": "x"}"#, #"{"tensors": []} x"#, "{\"tensors\": [\"\u{01}\"]}"] {
            #expect(IndexParser.document(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test("every failure has its own clear error")
    func errors() throws {
        let folder = try TemporaryFolder()
        let missing = expectSheafError(.fileNotFound) { _ = try SheafFile(path: folder.file("nope.sheaf")) }
        #expect(missing?.description.contains("nope.sheaf") == true)
        try Tensor(arange: 4).save(to: folder.file("t.sheaf"))
        #expect(try [Tensor](contentsOf: folder.file("t.sheaf")) == [Tensor(arange: 4)])
        var sd = StateDict(); sd["a"] = Tensor(arange: 1)
        try sd.save(to: folder.file("d.sheaf"))
        expectSheafError(.invalidArgument) { _ = try [Tensor](contentsOf: folder.file("d.sheaf")) }
        let wrongKind = expectSheafError(.invalidArgument) { _ = try Tensor(contentsOf: folder.file("d.sheaf")) }
        #expect(wrongKind?.message.contains("StateDict") == true)
        expectSheafError(.dtypeMismatch) { _ = try Tensor(arange: 2).scalars(as: Float.self) }
        expectSheafError(.shapeMismatch) { _ = try Tensor(shape: [2, 2], scalars: [Float(1)]) }
        expectSheafError(.limitExceeded) { _ = try Tensor(zeros: [Int.max, 2]) }
        expectSheafError(.limitExceeded) { _ = try Tensor(zeros: Array(repeating: 1, count: 33)) }
    }

    @Test("opening and closing thousands of files leaks no HDF5 handle")
    func noHandleLeaks() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        sd["a"] = Tensor(arange: 5)
        sd["b"] = Tensor([Float(1), 2])
        try sd.save(to: folder.file("x.sheaf"))
        #expect(try HDF5Library.openObjectCount(inFilesUnder: folder.path) == 0)
        for i in 0..<2000 {
            let file = try SheafFile(path: folder.file("x.sheaf"))
            _ = try file.tensor(i % 2 == 0 ? "a" : "b")
            if i % 500 == 0 { try sd.save(to: folder.file("y\(i).sheaf")) }
            _ = SheafFile.verify(path: folder.file("x.sheaf"))
            _ = try? SheafFile(path: fixturePath("format/invalid/checksum_mismatch.sheaf")).stateDict()
            if i == 10 {
                // While a file is open its identifiers are counted, so the check can fail.
                let open = try SheafFile(path: folder.file("x.sheaf"))
                #expect(try HDF5Library.openObjectCount(inFilesUnder: folder.path) >= 1)
                _ = open.keys
            }
        }
        #expect(try HDF5Library.openObjectCount(inFilesUnder: folder.path) == 0)
    }

    @Test("a reader opening a checkpoint while it is replaced gets the old or the new file, never a mix")
    func readWhileReplacing() async throws {
        let folder = try TemporaryFolder()
        let checkpoints = try Checkpointer(directory: folder.file("ckpt"), keepLast: 1)
        var versions: [StateDict] = []
        for v in 0..<2 {
            var sd = StateDict()
            for i in 0..<8 { sd["layer\(i).weight"] = try sampleTensor(.float32, shape: [128, 32], seed: UInt64(v * 100 + i)) }
            versions.append(sd)
        }
        try checkpoints.save(versions[0], step: 7)
        let path = checkpoints.path(step: 7)
        let expected = versions
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                for round in 0..<40 { try checkpoints.save(expected[round % 2], step: 7) }
                return 0
            }
            for _ in 0..<3 {
                group.addTask {
                    var reads = 0
                    for _ in 0..<60 {
                        var loaded = try StateDict(contentsOf: path)
                        loaded.metadata = [:]
                        #expect(loaded == expected[0] || loaded == expected[1], "a mix of two checkpoints")
                        reads += 1
                    }
                    return reads
                }
            }
            var total = 0
            for try await reads in group { total += reads }
            #expect(total == 180)
        }
    }

    @Test("many tasks reading and writing at once get correct results")
    func concurrency() async throws {
        let folder = try TemporaryFolder()
        var shared = StateDict()
        for i in 0..<20 { shared["t\(i)"] = try sampleTensor(.float32, shape: [64, 8], seed: UInt64(i)) }
        try shared.save(to: folder.file("shared.sheaf"))
        let sharedCopy = shared
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<16 {
                group.addTask {
                    for round in 0..<10 {
                        #expect(try StateDict(contentsOf: folder.file("shared.sheaf")) == sharedCopy)
                        var own = StateDict()
                        own["x"] = try sampleTensor(.int64, shape: [task + 1, round + 1], seed: UInt64(task * 100 + round))
                        let path = folder.file("own-\(task).sheaf")
                        try own.save(to: path)
                        let file = try SheafFile(path: path)
                        #expect(try file.tensor("x") == own["x"]!)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

@Suite("Checkpoint structure rules (Spec 8.1)")
struct StructureRulesTests {
    @Test("a structure must name keys and metadata the file has; a file without one stays 1.0")
    func references() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("s.sheaf")
        let tensor = Tensor(arange: 3)
        let good = CheckpointNode.dict(ordered: false, items: [
            CheckpointItem(key: .string("w"), value: .tensor("w")),
            CheckpointItem(key: .int(3), value: .metadata("epoch", asTuple: false)),
            CheckpointItem(key: .none, value: .tuple([.none, .list([])])),
        ])
        let unpacked = SaveOptions(packingThreshold: nil)
        try SheafWriter.write(kind: .dict, keys: ["w"], tiedTo: [nil], metadata: ["epoch": .int(3)], structure: good, to: path,
                              options: unpacked) { _ in tensor }
        let file = try SheafFile(path: path)
        #expect(file.structure == good && file.version == "1.1")
        // Packed (the default for a small tensor), the least version is 1.4, which includes 1.1's structure.
        try SheafWriter.write(kind: .dict, keys: ["w"], tiedTo: [nil], metadata: ["epoch": .int(3)], structure: good, to: path) { _ in tensor }
        let packed = try SheafFile(path: path)
        #expect(packed.structure == good && packed.version == "1.4")
        for bad in [CheckpointNode.tensor("missing"), .metadata("missing", asTuple: false)] {
            expectSheafError(.invalidIndex) {
                try SheafWriter.write(kind: .dict, keys: ["w"], tiedTo: [nil], metadata: ["epoch": .int(3)], structure: bad,
                                      to: folder.file("bad.sheaf")) { _ in tensor }
            }
        }
        #expect(!folder.contents.contains("bad.sheaf"))
        var plain = StateDict()
        plain["w"] = tensor
        try plain.save(to: folder.file("plain.sheaf"), options: unpacked)
        let flat = try SheafFile(path: folder.file("plain.sheaf"))
        #expect(flat.structure == nil && flat.version == "1.0")
    }
}

@Suite("Sharded Sheaf sets (Spec 16)")
struct SheafSetTests {
    func model() -> StateDict {
        var sd = StateDict()
        for i in 0..<6 { sd["layer\(i).weight"] = Tensor(arange: 100 * (i + 1)) }
        sd["layer5.bias"] = sd["layer5.weight"]  // tied within its shard (free, even past the size)
        sd["head.weight"] = sd["layer0.weight"]  // tied to a key of the first shard: written as a copy
        sd.metadata = ["epoch": .int(3)]
        return sd
    }

    @Test("a set loads as the state dict it was written from, shards within the size, ties kept within a shard")
    func roundTrip() throws {
        let folder = try TemporaryFolder()
        let index = folder.file("m.sheaf.index.json")
        let original = model()
        let names = try SheafSet.write(original, to: index, shardSize: 2_500)
        #expect(names.count > 2 && names[0] == "m-00001-of-0000\(names.count).sheaf")
        for name in names {
            let shard = try SheafFile(path: folder.file(name))
            let stored = shard.entries.filter { $0.tiedTo == nil }.reduce(0) { $0 + $1.byteCount }
            #expect(stored <= 2_500 || shard.entries.filter { $0.tiedTo == nil }.count == 1, "\(name): \(stored) bytes")
            #expect(shard.verify() == [])
        }
        let set = try SheafSet(path: index)
        #expect(set.keys == original.keys && set.metadata == original.metadata)
        let loaded = try StateDict(contentsOf: index)
        #expect(loaded == original)
        #expect(loaded["layer5.bias"]!.sharesStorage(with: loaded["layer5.weight"]!))
        #expect(SheafFile.verify(path: index) == [])
        // Written again without replace: refused; nothing half-written.
        expectSheafError(.io) { try SheafSet.write(original, to: index, shardSize: 2_500, replace: false) }
    }

    @Test("a missing or substituted shard is named; a set index naming a file outside its folder is refused")
    func damage() throws {
        let folder = try TemporaryFolder()
        let index = folder.file("m.sheaf.index.json")
        let names = try SheafSet.write(model(), to: index, shardSize: 2_500)
        var other = StateDict()
        other["x"] = Tensor(arange: 3)
        try other.save(to: folder.file(names[1]))
        let substituted = expectSheafError(.checksumMismatch) { _ = try SheafSet(path: index) }
        #expect(substituted?.message.contains(names[1]) == true)
        #expect(SheafFile.verify(path: index).first?.message.contains(names[1]) == true)
        unlink(folder.file(names[1]))
        let missing = expectSheafError(.invalidFile) { _ = try SheafSet(path: index) }
        #expect(missing?.message.contains("\(names[1]) is missing") == true)
        let text = try String(contentsOfFile: index, encoding: .utf8).replacingOccurrences(of: names[0], with: "../" + names[0])
        try text.write(toFile: index, atomically: true, encoding: .utf8)
        expectSheafError(.invalidIndex) { _ = try SheafSet(path: index) }
    }

    @Test("large zeros are untouched anonymous memory, written in place; file-backed tensors are copied before a change")
    func zeroedAndMappedStorage() throws {
        var zeros = try Tensor(zeros: [1 << 19])  // 2 MiB: an anonymous mapping
        #expect(zeros.storage.owner?.writable == true)
        #expect(zeros.withUnsafeBytes { $0.allSatisfy { $0 == 0 } })
        let before = ObjectIdentifier(zeros.storage)
        zeros.withUnsafeMutableBytes { $0.storeBytes(of: Float(3), toByteOffset: 4, as: Float.self) }
        #expect(ObjectIdentifier(zeros.storage) == before, "written in place, not copied")
        #expect(try zeros.scalars(as: Float.self)[1] == 3)
        let shared = zeros
        zeros.withUnsafeMutableBytes { $0.storeBytes(of: Float(4), toByteOffset: 4, as: Float.self) }
        #expect(try shared.scalars(as: Float.self)[1] == 3, "a shared storage is still copied first")
        #expect(try Tensor(zeros: [8]).storage.owner == nil)

        let folder = try TemporaryFolder()
        var sd = StateDict()
        sd["w"] = try Tensor(ones: [1 << 19])
        try sd.save(to: folder.file("w.sheaf"))
        var loaded = try StateDict(contentsOf: folder.file("w.sheaf"))["w"]!
        #expect(loaded.storage.owner?.writable == false, "a full load maps the file")
        loaded.withUnsafeMutableBytes { $0.storeBytes(of: Float(5), toByteOffset: 0, as: Float.self) }
        #expect(loaded.storage.owner == nil, "changed through a private copy")
        #expect(try StateDict(contentsOf: folder.file("w.sheaf"))["w"]!.scalars(as: Float.self)[0] == 1)
    }
}
