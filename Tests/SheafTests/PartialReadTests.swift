import Foundation
import Testing
@testable import Sheaf

/// `SheafFile.tensor(_:slice:)`: the slice's values, only the blocks it
/// touches read, each verified (Spec §9.1).
@Suite("Partial reads")
struct PartialReadTests {
    /// The slice computed element by element from the whole tensor's bytes:
    /// independent of the run arithmetic the reader uses.
    static func reference(_ tensor: Tensor, _ ranges: [Range<Int>]) -> [UInt8] {
        let shape = tensor.shape, size = tensor.dtype.itemSize
        let full = ranges + shape[ranges.count...].map { 0..<$0 }
        let count = full.reduce(1) { $0 * $1.count }
        var out: [UInt8] = []
        out.reserveCapacity(count * size)
        tensor.withUnsafeBytes { bytes in
            for flat in 0..<count {
                var rest = flat, source = 0, step = 1
                var parts = [Int](repeating: 0, count: shape.count)
                for d in stride(from: shape.count - 1, through: 0, by: -1) {
                    parts[d] = full[d].lowerBound + rest % full[d].count
                    rest /= full[d].count
                }
                for d in stride(from: shape.count - 1, through: 0, by: -1) { source += parts[d] * step; step *= shape[d] }
                out.append(contentsOf: bytes[(source * size)..<((source + 1) * size)])
            }
        }
        return out
    }

    /// Whether `tensor`'s bytes are `expected` (a Bool, so that a failing
    /// expectation does not render a diff of two large arrays).
    static func holds(_ tensor: Tensor, _ expected: [UInt8]) -> Bool {
        tensor.withUnsafeBytes { Array($0) } == expected
    }

    static func random(_ shape: [Int], _ dtype: DType, seed: UInt64) throws -> Tensor {
        var generator = SeededGenerator(seed: seed)
        let count = shape.reduce(1, *) * dtype.itemSize
        let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) & (dtype == .bool ? 1 : 0xFF) }
        return try Tensor(dtype: dtype, shape: shape, byteArray: bytes[...])
    }

    @Test("every slice equals the element-by-element reference, for every storage and block layout")
    func slicesMatchReference() throws {
        let folder = try TemporaryFolder()
        var generator = SeededGenerator(seed: 7)
        let tensors: [(String, Tensor)] = [
            ("f32", try Self.random([37, 53, 29], .float32, seed: 1)),
            ("bf16", try Self.random([64, 129], .bfloat16, seed: 2)),
            ("bool", try Self.random([41, 7], .bool, seed: 3)),
            ("c64", try Self.random([5, 6, 7, 3], .complex64, seed: 4)),
            ("scalar", try Self.random([], .int32, seed: 5)),
            ("empty", try Self.random([0, 4], .float32, seed: 6)),
        ]
        var sd = StateDict()
        for (key, tensor) in tensors { sd[key] = tensor }
        let layouts: [(String, SaveOptions)] = [
            ("blocks of 4096", SaveOptions(blockSize: 4096)),
            ("blocks of 1000 (not a multiple of the item size)", SaveOptions(blockSize: 1000)),
            ("no block checksums", SaveOptions(blockSize: nil)),
            ("nothing packed", SaveOptions(blockSize: 4096, packingThreshold: nil)),
            ("deflate", SaveOptions(compression: .deflate(level: 3), blockSize: 4096)),
            ("crc32 blocks", SaveOptions(checksum: .crc32, blockSize: 2048)),
        ]
        for (name, options) in layouts {
            let path = folder.file("\(name).sheaf")
            try sd.save(to: path, options: options)
            let file = try SheafFile(path: path)
            // Tensors under 64 KiB are packed unless compressed or turned off (§18).
            let packed = options.compression == .none && options.packingThreshold != nil
            #expect(file.version == (packed ? "1.4" : options.blockSize == nil ? "1.0" : "1.2"), "\(name)")
            #expect(try file.entry("bf16").storage == (packed ? .packed : options.compression == .none ? .contiguous : .deflate), "\(name)")
            for (key, tensor) in tensors {
                var cases: [[Range<Int>]] = [[], tensor.shape.map { 0..<$0 }]
                for _ in 0..<12 {
                    let rank = Int.random(in: 0...tensor.shape.count, using: &generator)
                    cases.append(tensor.shape.prefix(rank).map { dim in
                        let a = Int.random(in: 0...dim, using: &generator), b = Int.random(in: 0...dim, using: &generator)
                        return min(a, b)..<max(a, b)
                    })
                }
                for ranges in cases {
                    let expected = Self.reference(tensor, ranges)
                    for mapped in [true, false] {  // from a mapping of the file, and with pread
                        let slice = try file.tensor(key, slice: ranges, verifyChecksum: true, mapped: mapped)
                        #expect(slice.shape == ranges.map(\.count) + tensor.shape[ranges.count...], "\(name) \(key) \(ranges)")
                        #expect(slice.dtype == tensor.dtype)
                        #expect(Self.holds(slice, expected), "\(name) \(key) \(ranges) mapped: \(mapped)")
                    }
                }
            }
        }
    }

    @Test("a slice reads only its blocks: damage elsewhere goes unseen, damage inside is named by block")
    func onlyTouchedBlocksAreRead() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("w.sheaf")
        let weight = try Self.random([256, 64], .float32, seed: 9)  // 64 KiB: rows of 256 bytes, 16 blocks of 4096
        var sd = StateDict()
        sd["w"] = weight
        try sd.save(to: path, options: SaveOptions(blockSize: 4096))
        let offset = try #require(try SheafFile(path: path).entry("w").offset)
        // Damage one byte of block 10 (rows 160..<176).
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(offset + 10 * 4096 + 100))
        let original = try #require(try handle.read(upToCount: 1))
        try handle.seek(toOffset: UInt64(offset + 10 * 4096 + 100))
        try handle.write(contentsOf: Data([original[0] ^ 0x55]))
        try handle.close()

        let file = try SheafFile(path: path)
        for mapped in [true, false] {
            // Rows 0..<160 and 176..<256 lie in other blocks.
            #expect(Self.holds(try file.tensor("w", slice: [0..<160], verifyChecksum: true, mapped: mapped), Self.reference(weight, [0..<160])))
            #expect(Self.holds(try file.tensor("w", slice: [176..<256, 3..<9], verifyChecksum: true, mapped: mapped),
                               Self.reference(weight, [176..<256, 3..<9])))
            let error = expectSheafError(.checksumMismatch) { _ = try file.tensor("w", slice: [150..<170], verifyChecksum: true, mapped: mapped) }
            #expect(error?.message.contains("block 10") == true, "\(error.map { "\($0)" } ?? "")")
            #expect(error?.key == "w")
            // A column slice touches every row, so every block.
            expectSheafError(.checksumMismatch) { _ = try file.tensor("w", slice: [0..<256, 0..<1], verifyChecksum: true, mapped: mapped) }
        }
        // The whole tensor and verify see it too.
        expectSheafError(.checksumMismatch) { _ = try file.tensor("w") }
        #expect(SheafFile.verify(path: path).contains { $0.code == .checksumMismatch })
        // Unverified, the damaged slice reads.
        _ = try file.tensor("w", slice: [150..<170], verifyChecksum: false)
    }

    @Test("without block checksums a slice is checked against the whole tensor's checksum")
    func noBlocksChecksWhole() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("w.sheaf")
        var sd = StateDict()
        sd["w"] = try Self.random([256, 64], .float32, seed: 10)
        try sd.save(to: path, options: SaveOptions(blockSize: nil))
        let offset = try #require(try SheafFile(path: path).entry("w").offset)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(offset + 60_000))
        try handle.write(contentsOf: Data([0xFF, 0x00, 0xFF]))
        try handle.close()
        let error = expectSheafError(.checksumMismatch) { _ = try SheafFile(path: path).tensor("w", slice: [0..<1]) }
        #expect(error?.message.contains("block") == false)
    }

    @Test("bad ranges are refused, naming the dimension")
    func badRanges() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("w.sheaf")
        var sd = StateDict()
        sd["w"] = try Tensor(zeros: [4, 5])
        try sd.save(to: path)
        let file = try SheafFile(path: path)
        let tooMany = expectSheafError(.invalidArgument) { _ = try file.tensor("w", slice: [0..<1, 0..<1, 0..<1]) }
        #expect(tooMany?.message.contains("3 ranges for a tensor of 2 dimensions") == true)
        let outside = expectSheafError(.invalidArgument) { _ = try file.tensor("w", slice: [0..<4, 2..<6]) }
        #expect(outside?.message.contains("dimension 1") == true)
        expectSheafError(.keyNotFound) { _ = try file.tensor("nope", slice: []) }
    }

    @Test("the conformance fixtures: h5py-written block checksums slice; a wrong block is found only where read")
    func fixtures() throws {
        let valid = try SheafFile(path: fixturePath("format/valid/block_checksums.sheaf"))
        let whole = try valid.tensor("odd")
        #expect(valid.entries.first { $0.key == "odd" }?.blockChecksums.count == 3)
        for ranges in [[0..<10, 0..<100], [3..<4], [9..<10, 50..<100], [0..<10, 99..<100]] {
            #expect(Self.holds(try valid.tensor("odd", slice: ranges), Self.reference(whole, ranges)))
            #expect(Self.holds(try valid.tensor("tie", slice: [1..<2]), Self.reference(try valid.tensor("w"), [1..<2])))
        }
        let damaged = try SheafFile(path: fixturePath("format/invalid/block_checksum_mismatch.sheaf"))
        _ = try damaged.tensor("w", slice: [0..<21])  // bytes 0..<4032: block 0 only
        let error = expectSheafError(.checksumMismatch) { _ = try damaged.tensor("w", slice: [21..<22]) }
        #expect(error?.message.contains("block 1") == true)
    }

    @Test("a set slices through its shards")
    func setSlices() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        sd["a"] = try Self.random([300, 40], .float32, seed: 11)
        sd["b"] = try Self.random([300, 40], .float32, seed: 12)
        let index = folder.file("model.sheaf.index.json")
        try SheafSet.write(sd, to: index, shardSize: 50_000)
        let set = try SheafSet(path: index)
        #expect(set.shardNames.count == 2)
        #expect(Self.holds(try set.tensor("b", slice: [10..<20, 5..<6]), Self.reference(sd["b"]!, [10..<20, 5..<6])))
    }
}
