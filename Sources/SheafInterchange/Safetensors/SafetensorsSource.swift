import Sheaf

/// A safetensors file, read by the reference's rules (``SafetensorsHeader``).
/// Keys come in data order (safetensors does not keep the writer's order);
/// `__metadata__` becomes string metadata.
final class SafetensorsSource: TensorSource {
    let path: String
    let format = InterchangeFormat.safetensors
    let kind = SheafKind.dict
    let metadata: Metadata
    let entries: [SourceEntry]
    private let offsets: [Int]
    private let file: FileReader

    init(path: String) throws(SheafError) {
        self.path = path
        file = try FileReader(path: path)
        func bad(_ message: String, _ code: SheafError.Code = .invalidFile) -> SheafError {
            SafetensorsHeader.refusal(message, file: path, code)
        }
        guard file.size >= 8 else { throw bad("file is \(file.size) bytes, shorter than the 8-byte header length") }
        var cursor = ByteCursor(try file.bytes(at: 0, count: 8), what: "safetensors header length")
        let length = try cursor.u64()
        guard length <= UInt64(SafetensorsFormat.maxHeaderBytes) else {
            throw bad("header of \(length) bytes is over the \(SafetensorsFormat.maxHeaderBytes)-byte limit", .limitExceeded)
        }
        guard Int(length) <= file.size - 8 else { throw bad("header length \(length) runs past the end of the \(file.size)-byte file") }
        let header = try SafetensorsHeader.parse(try file.bytes(at: 8, count: Int(length)), file: path)
        let dataStart = 8 + Int(length)
        let placements = try header.layout(dataSize: file.size - dataStart, file: path)
        var metadata: Metadata = [:]
        for (name, text) in header.metadata { metadata[name] = .string(text) }
        self.metadata = metadata
        entries = placements.map { SourceEntry(key: $0.key, dtype: $0.dtype, shape: $0.shape, storage: "contiguous") }
        offsets = placements.map { dataStart + $0.begin }
    }

    func tensor(at index: Int) throws(SheafError) -> Tensor {
        var tensor = try file.tensor(dtype: entries[index].dtype, shape: entries[index].shape, at: offsets[index], key: entries[index].key)
        if tensor.dtype == .bool {
            // safetensors bools are bytes; anything but 0/1 is not a bool.
            let bad = tensor.withUnsafeBytes { $0.contains { $0 > 1 } }
            if bad {
                throw SheafError(.invalidFile, file: path, key: entries[index].key, "bool tensor holds bytes other than 0 and 1")
            }
            tensor.metadata = [:]
        }
        return tensor
    }
}
