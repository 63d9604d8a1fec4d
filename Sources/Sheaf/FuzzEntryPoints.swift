/// Entry points for the libFuzzer targets in `Fuzz/`.
@_spi(Fuzzing)
public enum SheafFuzzEntryPoints {
    /// The binary index's checks (§8.2) on records, keys, dimensions and block
    /// checksums cut from `bytes`: a 6-byte header of three little-endian
    /// 16-bit counts (records, key bytes, dimensions), then those, then block
    /// checksums to the end.
    public static func binaryIndex(_ bytes: [UInt8]) {
        guard bytes.count >= 6 else { return }
        func count(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        var rest = bytes[6...]
        let records = Array(rest.prefix(count(0) * BinaryIndex.recordSize))
        rest = rest.dropFirst(records.count)
        let keys = Array(rest.prefix(count(2)))
        rest = rest.dropFirst(keys.count)
        let dimensions = stride(from: rest.startIndex, to: min(rest.startIndex + count(4) * 8, rest.endIndex - 7), by: 8).map { at in
            rest[at..<at + 8].reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        rest = rest.dropFirst(dimensions.count * 8)
        let blocks = stride(from: rest.startIndex, to: rest.endIndex - 7, by: 8).map { at in
            rest[at..<at + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        for kind in SheafKind.allCases {
            let table = try? BinaryIndex.decode(count: records.count / BinaryIndex.recordSize, keys: keys, dimensions: dimensions,
                                                blocks: blocks, kind: kind, algorithm: .xxh3_64, fileSize: 1 << 20,
                                                path: "fuzz") { (rows, buffer) throws(SheafError) in
                records[rows.lowerBound * BinaryIndex.recordSize..<rows.upperBound * BinaryIndex.recordSize].withUnsafeBytes {
                    buffer.copyMemory(from: $0)
                }
            }
            if let table {
                for position in 0..<table.count { _ = table.position(of: table.entry(at: position).key) }
            }
        }
    }

    /// The index parser and validator (the part of the Sheaf reader that is not libhdf5).
    public static func index(_ bytes: [UInt8]) {
        // A distributed checkpoint's master index (§17) through its own parser and tiling checks.
        _ = try? DistributedIndex.parse(bytes, path: "fuzz")
        guard case .index(let index) = IndexParser.parse(bytes) else {
            _ = try? JSON.decode(IndexDocument.self, from: bytes, file: "fuzz")
            return
        }
        for kind in SheafKind.allCases {
            if let table = try? SheafFile.validate(index, kind: kind, algorithm: .xxh3_64, fileSize: 1 << 20, path: "fuzz") {
                for position in 0..<table.count {
                    let entry = table.entry(at: position)
                    _ = table.position(of: entry.key)
                }
            }
        }
    }
}
