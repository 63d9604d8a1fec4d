/// Entry points for the libFuzzer targets in `Fuzz/`.
@_spi(Fuzzing)
public enum SheafFuzzEntryPoints {
    /// The index parser and validator (the part of the Sheaf reader that is not libhdf5).
    public static func index(_ bytes: [UInt8]) {
        // A distributed checkpoint's master index (§17) through its own parser and tiling checks.
        _ = try? DistributedIndex.parse(bytes, path: "fuzz")
        let fast = IndexParser.document(bytes)
        guard let document = fast ?? (try? JSON.decode(IndexDocument.self, from: bytes, file: "fuzz")) else { return }
        for kind in SheafKind.allCases {
            _ = try? SheafFile.validate(document, kind: kind, algorithm: .xxh3_64, fileSize: 1 << 20, path: "fuzz")
        }
    }
}
