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

/// A `.npz` file: a zip of `.npy` members, stored or deflated; keys are the
/// member names without `.npy`.
final class NpzSource: TensorSource {
    let path: String
    let format = InterchangeFormat.npz
    let kind = SheafKind.dict
    let metadata: Metadata = [:]
    let entries: [SourceEntry]
    private let archive: ZipArchive
    private let headers: [(ZipArchive.Member, NumPyFormat.Header)]

    init(archive: ZipArchive) throws(SheafError) {
        path = archive.path
        self.archive = archive
        var entries: [SourceEntry] = []
        var headers: [(ZipArchive.Member, NumPyFormat.Header)] = []
        for member in archive.members where !member.name.hasSuffix("/") {
            guard member.name.hasSuffix(".npy") else {
                throw SheafError(.invalidFile, file: path, key: member.name, "npz member is not a .npy file")
            }
            let key = String(member.name.dropLast(4))
            let prefix: [UInt8]
            if member.method == 0 {
                prefix = try archive.file.bytes(at: try archive.dataOffset(of: member),
                                                count: min(member.size, 12 + NumPyFormat.maxHeaderBytes))
            } else {
                // Deflated: the header is small but sits at the start of the stream.
                prefix = Array(try archive.bytes(of: member, limit: Int.max).prefix(12 + NumPyFormat.maxHeaderBytes))
            }
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

/// A Sheaf file, through the lazy ``SheafFile`` reader.
final class SheafSource: TensorSource {
    let path: String
    let format = InterchangeFormat.sheaf
    let kind: SheafKind
    let metadata: Metadata
    let entries: [SourceEntry]
    private let file: SheafFile

    init(path: String) throws(SheafError) {
        self.path = path
        file = try SheafFile(path: path)
        // Every dataset is checked against the index and the read policy (no data
        // read), so listing a file refuses what reading it would.
        for entry in file.entries where entry.tiedTo == nil { _ = try file.checkDataset(entry) }
        kind = file.kind
        metadata = file.metadata
        entries = file.entries.map {
            SourceEntry(key: $0.key, dtype: $0.dtype, shape: $0.shape, tiedTo: $0.tiedTo, storage: $0.storage.rawValue)
        }
    }

    func tensor(at index: Int) throws(SheafError) -> Tensor { try file.tensor(entries[index].key) }

    /// The lazily opened file, for `inspect` (checksums) and `verify`.
    var sheafEntries: [SheafFile.Entry] { file.entries }
    var checksumAlgorithm: ChecksumAlgorithm { file.checksumAlgorithm }
}

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
