import Sheaf

/// A `.npy` file: one tensor.
final class NpySource: TensorSource {
    let path: String
    let format = InterchangeFormat.npy
    let kind = SheafKind.tensor
    let metadata: Metadata = [:]
    let entries: [SourceEntry]
    private let file: FileReader
    private let header: NumPyFormat.Header

    init(path: String) throws(SheafError) {
        self.path = path
        file = try FileReader(path: path)
        header = try NumPyFormat.parseHeader(try file.bytes(at: 0, count: min(file.size, 12 + NumPyFormat.maxHeaderBytes)), file: path)
        let bytes = try Shape.byteCount(header.shape, header.dtype)
        guard file.size - header.dataOffset == bytes else {
            throw SheafError(.invalidFile, file: path,
                             "npy header says \(header.dtype) \(header.shape) (\(bytes) bytes), the file holds \(file.size - header.dataOffset) bytes of data")
        }
        entries = [SourceEntry(key: "0", dtype: header.dtype, shape: header.shape,
                               storage: header.fortranOrder ? "npy fortran order" : "npy")]
    }

    func tensor(at index: Int) throws(SheafError) -> Tensor {
        let raw = try file.tensor(dtype: header.dtype, shape: header.shape, at: header.dataOffset, key: "0")
        return try NumPyFormat.normalize(raw, bigEndian: header.bigEndian, fortranOrder: header.fortranOrder)
    }
}
