import Sheaf

/// Raw bytes of one tensor: the caller gives dtype, shape and byte order.
final class RawSource: TensorSource {
    let path: String
    let format = InterchangeFormat.raw
    let kind = SheafKind.tensor
    let metadata: Metadata = [:]
    let entries: [SourceEntry]
    private let file: FileReader
    private let bigEndian: Bool

    init(path: String, dtype: DType, shape: [Int], bigEndian: Bool) throws(SheafError) {
        self.path = path
        file = try FileReader(path: path)
        let bytes = try Shape.byteCount(shape, dtype)
        guard bytes == file.size else {
            throw SheafError(.shapeMismatch, file: path,
                             "\(dtype) shape \(shape) needs \(bytes) bytes, the file has \(file.size)")
        }
        self.bigEndian = bigEndian
        entries = [SourceEntry(key: "0", dtype: dtype, shape: shape, storage: bigEndian ? "raw big-endian" : "raw little-endian")]
    }

    func tensor(at index: Int) throws(SheafError) -> Tensor {
        let raw = try file.tensor(dtype: entries[0].dtype, shape: entries[0].shape, at: 0, key: "0")
        return try NumPyFormat.normalize(raw, bigEndian: bigEndian, fortranOrder: false)
    }
}
