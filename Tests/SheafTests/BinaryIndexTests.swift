import Foundation
import Testing
@testable import Sheaf

/// Spec §8.2: the binary index, written beside the JSON and read at open instead of it.
@Suite("Binary index (Spec 8.2)")
struct BinaryIndexTests {
    /// Every kind of entry the index holds: each dtype, scalar and empty
    /// shapes, ties (stored and packed), metadata, keys that are not ASCII
    /// (one that equals an ASCII key as a `String` only by canonical
    /// equivalence), a key with `/` and `%`, and a large tensor with block checksums.
    static func content() throws -> StateDict {
        var sd = StateDict()
        for (i, dtype) in DType.allCases.enumerated() {
            sd[dtype.rawValue] = try sampleTensor(dtype, shape: [3, 5], seed: UInt64(i))
            sd[dtype.rawValue + ".scalar"] = try sampleTensor(dtype, shape: [], seed: UInt64(i + 50))
            sd[dtype.rawValue + ".empty"] = try sampleTensor(dtype, shape: [2, 0])
        }
        let big = try sampleTensor(.float32, shape: [300, 1000], seed: 90)  // 1.2 MB: blocks, its own dataset
        sd["emb.weight"] = big
        sd["lm_head.weight"] = big
        let small = try sampleTensor(.bfloat16, shape: [8], seed: 91)  // packed by default
        sd["ln.bias"] = small
        sd["ln2.bias"] = small
        var annotated = try sampleTensor(.float16, shape: [4], seed: 92)
        annotated.metadata = ["unit": "m/s", "scale": 0.5]
        sd["annotated"] = annotated
        sd["caf\u{E9}/%2F"] = try sampleTensor(.int32, shape: [2], seed: 93)
        sd["\u{212A}elvin"] = try sampleTensor(.int8, shape: [1], seed: 94)  // KELVIN SIGN
        sd.metadata = ["epoch": 3, "tags": .strings(["a", "\u{FC}"])]
        return sd
    }

    @Test("a file with a binary index opens to the entries, lookups and tensors its JSON index gives, and verifies clean",
          arguments: [SaveOptions.default, SaveOptions(compression: .deflate(level: 3)), SaveOptions(checksum: .crc32),
                      SaveOptions(blockSize: nil, packingThreshold: nil)])
    func sameAsJSON(_ base: SaveOptions) throws {
        let folder = try TemporaryFolder()
        let sd = try Self.content()
        var withBinary = base, withoutBinary = base
        withBinary.binaryIndexThreshold = 0
        withoutBinary.binaryIndexThreshold = nil
        try sd.save(to: folder.file("binary.sheaf"), options: withBinary)
        try sd.save(to: folder.file("json.sheaf"), options: withoutBinary)
        let binary = try SheafFile(path: folder.file("binary.sheaf"))
        let json = try SheafFile(path: folder.file("json.sheaf"))
        #expect(binary.version == FormatLayout.binaryIndexVersion && json.version != FormatLayout.binaryIndexVersion)
        #expect(Array(binary.entries) == Array(json.entries))
        // The JSON index is the same bytes with or without the binary one beside it.
        #expect(binary.indexChecksum == json.indexChecksum)
        #expect(binary.metadata == json.metadata)
        for key in sd.keys {
            #expect(binary.position(of: key) == json.position(of: key) && binary.position(of: key) != nil, "\(key)")
        }
        #expect(binary.position(of: "Kelvin") == json.position(of: "Kelvin"))
        #expect(binary.position(of: "missing") == nil)
        #expect(try binary.stateDict() == sd)
        #expect(try StateDict(contentsOf: folder.file("binary.sheaf"), trustIndex: false) == sd)
        #expect(binary.verify() == [])
    }

    @Test("the default writes a binary index from 1,000 tensors on; a structure and a sharded set carry it")
    func threshold() throws {
        let folder = try TemporaryFolder()
        for count in [SaveOptions.defaultBinaryIndexThreshold - 1, SaveOptions.defaultBinaryIndexThreshold] {
            var sd = StateDict()
            for i in 0..<count { sd["layers.\(i).bias"] = try sampleTensor(.float32, shape: [4], seed: UInt64(i)) }
            let path = folder.file("n\(count).sheaf")
            try sd.save(to: path)
            let file = try SheafFile(path: path)
            #expect((file.version == FormatLayout.binaryIndexVersion) == (count >= SaveOptions.defaultBinaryIndexThreshold))
            #expect(file.keys == sd.keys)
            #expect(file.verify() == [])
        }
        // The structure of a nested checkpoint (§8.1) is kept in the binary index too.
        let structure = CheckpointNode.dict(ordered: true, items: [
            CheckpointItem(key: .string("w"), value: .tensor("w")),
            CheckpointItem(key: .int(3), value: .metadata("epoch", asTuple: false)),
        ])
        let path = folder.file("nested.sheaf")
        try SheafWriter.write(kind: .dict, keys: ["w"], tiedTo: [nil], metadata: ["epoch": .int(3)], structure: structure, to: path,
                              options: SaveOptions(binaryIndexThreshold: 0)) { _ in Tensor(arange: 3) }
        let nested = try SheafFile(path: path)
        #expect(nested.structure == structure && nested.version == FormatLayout.binaryIndexVersion)
        #expect(nested.verify() == [])
        // A set records each shard's JSON index checksum (§16); shards with a binary index open and verify.
        let sd = try Self.content()
        let setPath = folder.file("set.sheaf.index.json")
        try SheafSet.write(sd, to: setPath, shardSize: 1 << 20, options: SaveOptions(binaryIndexThreshold: 0))
        let set = try SheafSet(path: setPath)
        #expect(try set.stateDict() == sd)
        #expect(SheafFile.verify(path: setPath) == [])
    }

    /// One record of §8.2's table for a float32 tensor of `count` elements, contiguous at `offset`.
    static func record(keyLength: Int, count: Int, offset: Int64 = 4096, tiedTo: Int32 = -1) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: BinaryIndex.recordSize)
        func put<T: FixedWidthInteger>(_ value: T, _ at: Int) {
            withUnsafeBytes(of: value.littleEndian) { for (i, byte) in $0.enumerated() { bytes[at + i] = byte } }
        }
        put(Int64(count * 4), 0); put(offset, 8); put(UInt64(7), 16); put(Int64(-1), 40)
        put(UInt32(keyLength), 48); put(tiedTo, 52); put(Int32(-1), 56)
        put(UInt8(BinaryIndex.dtypes.firstIndex(of: .float32)!), 60); put(UInt8(0), 61); put(UInt8(1), 62)
        return bytes
    }

    /// Decodes records and keys (each tensor of rank 1 and `count` elements) as a file's open would.
    static func decode(_ keys: [[UInt8]], count: Int = 2, tiedTo: [Int32]? = nil) throws(SheafError) -> IndexTable {
        let records = keys.enumerated().flatMap { record(keyLength: $1.count, count: count, tiedTo: tiedTo?[$0] ?? -1) }
        return try BinaryIndex.decode(count: keys.count, keys: keys.flatMap { $0 }, dimensions: Array(repeating: count, count: keys.count),
                                      blocks: [], kind: .dict, algorithm: .xxh3_64, fileSize: 1 << 20, path: "t.sheaf") { (rows, buffer) in
            records[rows.lowerBound * BinaryIndex.recordSize..<rows.upperBound * BinaryIndex.recordSize].withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
    }

    @Test("each record's key is checked: empty, NUL, not UTF-8, repeated (also as canonically equal text); ties only to earlier keys")
    func recordKeys() throws {
        let table = try Self.decode([Array("a".utf8), Array("caf\u{E9}".utf8), Array("b".utf8)], tiedTo: [-1, -1, 0])
        #expect(table.count == 3 && table.key(at: 1) == "caf\u{E9}" && table.position(of: "b") == 2)
        #expect(table.entry(at: 2).tiedTo == "a")
        expectSheafError(.invalidKey) { _ = try Self.decode([Array("a".utf8), []]) }
        let nul = expectSheafError(.invalidKey) { _ = try Self.decode([Array("a".utf8), [0x62, 0x00, 0x63]]) }
        #expect(nul?.message.contains("NUL") == true)
        expectSheafError(.invalidIndex) { _ = try Self.decode([[0x61, 0xFF]]) }
        expectSheafError(.invalidIndex) { _ = try Self.decode([Array("a".utf8), Array("a".utf8)]) }
        // "é" as one scalar and as e + combining acute are one key to a state dict.
        expectSheafError(.invalidIndex) { _ = try Self.decode([Array("\u{E9}".utf8), Array("e\u{301}".utf8)]) }
        expectSheafError(.invalidIndex) { _ = try Self.decode([Array("a".utf8), Array("b".utf8)], tiedTo: [1, -1]) }
        expectSheafError(.invalidIndex) { _ = try Self.decode([Array("a".utf8)], tiedTo: [0]) }
    }

    @Test("a binary index that disagrees with the JSON is found by verify; one that breaks a rule is refused at open")
    func disagreement() throws {
        // Written by h5py (Fixtures/make_format_fixtures.py): the binary index gives one
        // tensor another shape. A load trusts it (§8.2, as it trusts the JSON over the
        // datasets, §8); verify compares the two indexes and the datasets.
        let path = fixturePath("format/invalid/binary_index_disagrees.sheaf")
        let file = try SheafFile(path: path)
        #expect(try file.entry("caf\u{E9}/\u{FC}").shape == [2, 3])
        let problems = file.verify()
        #expect(problems.contains { $0.key == "caf\u{E9}/\u{FC}" && $0.message.contains("differs from the JSON index's entry") })
        #expect(problems.contains { $0.key == "caf\u{E9}/\u{FC}" && $0.code == .shapeMismatch })
        // The binary index's rules are checked before any entry is used.
        let error = expectSheafError(.invalidIndex) {
            _ = try SheafFile(path: fixturePath("format/invalid/binary_index_key_overrun.sheaf"))
        }
        #expect(error?.message.contains("key_length") == true)
    }
}
