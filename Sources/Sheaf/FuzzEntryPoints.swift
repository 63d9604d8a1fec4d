/// Entry points for the libFuzzer targets in `Fuzz/`.
@_spi(Fuzzing)
public enum SheafFuzzEntryPoints {
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
