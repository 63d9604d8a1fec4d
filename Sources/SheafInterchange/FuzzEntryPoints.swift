import Sheaf

/// Entry points for the libFuzzer targets in `Fuzz/`: each parses untrusted
/// bytes with one reader and must only ever return or throw.
@_spi(Fuzzing)
public enum FuzzEntryPoints {
    /// The `.npy` header parser.
    public static func npyHeader(_ bytes: [UInt8]) {
        _ = try? NumPyFormat.parseHeader(bytes, file: "fuzz")
    }

    /// The restricted unpickler, with every storage claiming `bytes.count` bytes.
    public static func unpickle(_ bytes: [UInt8]) {
        var unpickler = Unpickler(data: bytes, file: "fuzz") { _ in 64 }
        _ = try? unpickler.load()
        unpickler.releaseContainers()
    }

    /// A whole file through the reader `Interchange.open` picks, every tensor read.
    public static func readFile(_ path: String, format: InterchangeFormat) {
        guard let source = try? Interchange.open(path: path, format: format) else { return }
        for index in source.entries.indices { _ = try? source.tensor(at: index) }
    }
}
