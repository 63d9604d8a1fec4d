import Sheaf

/// The index of a sharded checkpoint (`model.safetensors.index.json`,
/// `pytorch_model.bin.index.json`), as transformers' `save_pretrained` writes
/// it: `{"metadata": {...}, "weight_map": {"KEY": "SHARD FILE", ...}}`.
///
/// Shard names must be plain file names in the index's own folder: a name with
/// a `/`, `.`/`..`, or a NUL is refused, so an index can never make Sheaf read
/// a file outside the folder it was given.
package struct ShardIndex {
    /// Keys in the index's order, each with the shard file that holds it.
    var weightMap: [(key: String, shard: String)]

    /// The largest index file read (a 70B model's index is ~100 KiB).
    static let maxBytes = 64 << 20

    /// Whether `prefix` (a file's first bytes) could be an index: a JSON object.
    package static func mayBeIndex(_ prefix: [UInt8]) -> Bool {
        prefix.first { ![0x20, 0x0A, 0x0D, 0x09].contains($0) } == UInt8(ascii: "{")
    }

    /// Parses the index bytes of `file`.
    static func parse(_ bytes: [UInt8], file: String) throws(SheafError) -> ShardIndex {
        func bad(_ message: String, key: String? = nil, _ code: SheafError.Code = .invalidFile) -> SheafError {
            SheafError(code, file: file, key: key, "sharded checkpoint index: \(message)")
        }
        guard case .object(let members)? = JSONReader.value(of: bytes) else { throw bad("not a JSON object") }
        guard let map = members.first(where: { $0.0 == "weight_map" })?.1 else { throw bad("no weight_map") }
        guard case .object(let pairs) = map else { throw bad("weight_map must map each key to its shard's file name") }
        var seen: Set<String> = []
        var weightMap: [(key: String, shard: String)] = []
        weightMap.reserveCapacity(pairs.count)
        for (key, value) in pairs {
            guard seen.insert(key).inserted else { throw bad("key listed twice in weight_map", key: key) }
            guard case .string(let shard) = value else { throw bad("weight_map value is not a file name", key: key) }
            guard isPlainName(shard) else {
                throw bad("shard '\(shard)' is outside the folder of the index; shards must be file names in that folder",
                          key: key, .unsupported)
            }
            weightMap.append((key, shard))
        }
        return ShardIndex(weightMap: weightMap)
    }

    /// A file name with no folder part: not empty, no `/`, not `.` or `..`, no NUL.
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.utf8.contains(UInt8(ascii: "/")) && !name.utf8.contains(0)
    }

    /// The shard files in the order the index first names them.
    var shards: [String] {
        var seen: Set<String> = []
        return weightMap.compactMap { seen.insert($0.shard).inserted ? $0.shard : nil }
    }
}
