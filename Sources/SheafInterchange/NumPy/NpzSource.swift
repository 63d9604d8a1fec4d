import Sheaf

/// A `.npz` file: a zip of `.npy` members, stored or deflated; keys are the
/// member names without `.npy`.
final class NpzSource: TensorSource {
    let path: String
    let format = InterchangeFormat.npz
    let kind = SheafKind.dict
    let metadata: Metadata = [:]
    let entries: [SourceEntry]
    private let archive: ZipReader
    private let headers: [(ZipReader.Member, NumPyFormat.Header)]

    init(archive: ZipReader) throws(SheafError) {
        path = archive.path
        self.archive = archive
        var entries: [SourceEntry] = []
        var headers: [(ZipReader.Member, NumPyFormat.Header)] = []
        for member in archive.members where !member.name.hasSuffix("/") {
            guard member.name.hasSuffix(".npy") else {
                throw SheafError(.invalidFile, file: path, key: member.name, "npz member is not a .npy file")
            }
            let key = String(member.name.dropLast(4))
            // Deflated or not, only the header's bytes are read (inflated) here.
            let prefix = try archive.prefix(of: member, count: 12 + NumPyFormat.maxHeaderBytes)
            let header = try NumPyFormat.parseHeader(prefix, file: path, key: key)
            let bytes = try Shape.byteCount(header.shape, header.dtype)
            guard member.size - header.dataOffset == bytes else {
                throw SheafError(.invalidFile, file: path, key: key,
                                 "npy header says \(header.dtype) \(header.shape) (\(bytes) bytes), the member holds \(member.size - header.dataOffset)")
            }
            entries.append(SourceEntry(key: key, dtype: header.dtype, shape: header.shape,
                                       storage: member.method == 0 ? "zip stored" : "zip deflate"))
            headers.append((member, header))
        }
        self.entries = entries
        self.headers = headers
    }

    func tensor(at index: Int) throws(SheafError) -> Tensor {
        let (member, header) = headers[index]
        let key = entries[index].key
        let raw: Tensor
        if member.method == 0 {
            raw = try archive.file.tensor(dtype: header.dtype, shape: header.shape,
                                          at: try archive.dataOffset(of: member) + header.dataOffset, key: key)
        } else {
            let whole = try archive.bytes(of: member, limit: Int.max)
            do {
                raw = try Tensor(dtype: header.dtype, shape: header.shape, byteArray: whole[header.dataOffset...])
            } catch { throw error.with(file: path, key: key) }
        }
        return try NumPyFormat.normalize(raw, bigEndian: header.bigEndian, fortranOrder: header.fortranOrder)
    }
}
