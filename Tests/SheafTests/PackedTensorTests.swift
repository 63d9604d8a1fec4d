import Foundation
import Testing
@testable import Sheaf

/// Packed small tensors (Spec §18): arenas per dtype, region references, the
/// threshold, streaming arenas, determinism, and what verify finds.
@Suite("Packed small tensors (Spec 18)")
struct PackedTensorTests {
    /// A state dict with every case the writer distinguishes.
    static func mixed() throws -> StateDict {
        var sd = StateDict()
        for i in 0..<40 { sd["layers.\(i).bias"] = try sampleTensor(.float32, shape: [i + 1], seed: UInt64(i)) }
        sd["big"] = try sampleTensor(.float32, shape: [128, 128], seed: 100)  // 64 KiB: its own dataset
        sd["mask"] = try sampleTensor(.bool, shape: [3, 3], seed: 101)
        sd["steps"] = try sampleTensor(.int64, shape: [], seed: 102)
        sd["empty"] = try sampleTensor(.float32, shape: [0, 2], seed: 103)
        var annotated = try sampleTensor(.float16, shape: [4], seed: 104)
        annotated.metadata = ["unit": "m"]
        sd["annotated"] = annotated
        sd["emb.weight"] = try sampleTensor(.bfloat16, shape: [8, 4], seed: 105)
        sd["head.weight"] = sd["emb.weight"]
        return sd
    }

    /// ``mixed()`` saved with the default options; its path.
    static func savedMixed(in folder: TemporaryFolder) throws -> (StateDict, String) {
        let sd = try mixed()
        let path = folder.file("mixed.sheaf")
        try sd.save(to: path)
        return (sd, path)
    }

    @Test("small tensors are packed, the rest keep their datasets; every read path gives the same tensors")
    func packs() throws {
        let folder = try TemporaryFolder()
        let (sd, path) = try Self.savedMixed(in: folder)
        let file = try SheafFile(path: path)
        #expect(file.version == FormatLayout.packedVersion)
        #expect(try file.entry("layers.3.bias").storage == .packed)
        #expect(try file.entry("steps").storage == .packed)
        #expect(try file.entry("mask").storage == .packed)
        #expect(try file.entry("big").storage == .contiguous)
        #expect(try file.entry("empty").storage == .contiguous)
        #expect(try file.entry("annotated").storage == .contiguous)  // metadata lives on a dataset
        let head = try file.entry("head.weight"), emb = try file.entry("emb.weight")
        #expect(head.tiedTo == "emb.weight" && head.packed == emb.packed && head.offset == emb.offset)
        // One arena per dtype here, each tensor 64-byte aligned.
        let arenas = Set(file.entries.compactMap(\.packed?.arena))
        #expect(arenas.count == 4)  // float32, bool, int64, bfloat16
        for entry in file.entries where entry.packed != nil { #expect(entry.offset! % 64 == 0, "\(entry.key)") }
        #expect(SheafFile.verify(path: path) == [])
        let loaded = try StateDict(contentsOf: path)
        #expect(loaded == sd)
        #expect(loaded["head.weight"]!.sharesStorage(with: loaded["emb.weight"]!))
        #expect(try StateDict(contentsOf: path, trustIndex: false) == sd)
        for key in ["layers.7.bias", "steps", "mask"] { #expect(try file.tensor(key) == sd[key]!) }
        let slice = try file.tensor("layers.9.bias", slice: [2..<7])
        #expect(slice.shape == [5])
        #expect(slice.withUnsafeBytes { Array($0) } == sd["layers.9.bias"]!.withUnsafeBytes { Array($0[8..<28]) })
    }

    @Test("the threshold: a tensor of exactly the threshold keeps its dataset; nil packs nothing")
    func threshold() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        sd["under"] = try sampleTensor(.uint8, shape: [1023], seed: 1)
        sd["at"] = try sampleTensor(.uint8, shape: [1024], seed: 2)
        try sd.save(to: folder.file("t.sheaf"), options: SaveOptions(packingThreshold: 1024))
        let file = try SheafFile(path: folder.file("t.sheaf"))
        #expect(try file.entry("under").storage == .packed)
        #expect(try file.entry("at").storage == .contiguous)
        try sd.save(to: folder.file("none.sheaf"), options: SaveOptions(packingThreshold: nil))
        let none = try SheafFile(path: folder.file("none.sheaf"))
        #expect(none.entries.allSatisfy { $0.storage == .contiguous } && none.version == "1.0")
        // Compressed saves pack nothing.
        try sd.save(to: folder.file("z.sheaf"), options: SaveOptions(compression: .deflate(level: 1)))
        #expect(try SheafFile(path: folder.file("z.sheaf")).entries.allSatisfy { $0.storage == .deflate })
    }

    @Test("a streaming save starts a new arena every 16 MiB and the same input gives the same bytes")
    func streamingArenas() throws {
        let folder = try TemporaryFolder()
        let count = 300  // 300 x 60,000 bytes = 17.2 MB: two float32 arenas
        let keys = (0..<count).map { "w\($0)" }
        func write(_ path: String) throws {
            try SheafWriter.write(kind: .dict, keys: keys, tiedTo: keys.map { _ in nil }, metadata: [:], to: path) { (i: Int) throws(SheafError) -> Tensor in
                do { return try sampleTensor(.float32, shape: [15_000], seed: UInt64(i)) } catch {
                    throw SheafError(.invalidArgument, "\(error)")
                }
            }
        }
        try write(folder.file("a.sheaf"))
        try write(folder.file("b.sheaf"))
        let file = try SheafFile(path: folder.file("a.sheaf"))
        #expect(file.entries.allSatisfy { $0.storage == .packed })
        #expect(Set(file.entries.compactMap(\.packed?.arena)) == [0, 1])
        #expect(SheafFile.verify(path: folder.file("a.sheaf")) == [])
        #expect(try file.tensor("w299") == (try sampleTensor(.float32, shape: [15_000], seed: 299)))
        let a = try Data(contentsOf: URL(fileURLWithPath: folder.file("a.sheaf")))
        let b = try Data(contentsOf: URL(fileURLWithPath: folder.file("b.sheaf")))
        #expect(a == b)
    }

    @Test("verify finds a damaged packed tensor by key; the load fails naming it")
    func damage() throws {
        let folder = try TemporaryFolder()
        let (sd, path) = try Self.savedMixed(in: folder)
        let entry = try SheafFile(path: path).entry("layers.5.bias")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[entry.offset! + 3] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: path))
        let problems = SheafFile.verify(path: path)
        #expect(problems.map(\.key) == ["layers.5.bias"] && problems.first?.code == .checksumMismatch)
        let error = expectSheafError(.checksumMismatch) { _ = try StateDict(contentsOf: path) }
        #expect(error?.key == "layers.5.bias")
        #expect(try SheafFile(path: path).tensor("layers.6.bias") == sd["layers.6.bias"]!)
    }
}
