import Foundation
import Sheaf

/// The safetensors format: an 8-byte little-endian header length, a JSON
/// header, then the data.
public enum SafetensorsFormat {
    /// safetensors' own cap on the header.
    public static let maxHeaderBytes = 100_000_000

    static let names: [(String, DType)] = [
        ("BOOL", .bool), ("U8", .uint8), ("I8", .int8), ("U16", .uint16), ("I16", .int16), ("F16", .float16),
        ("BF16", .bfloat16), ("U32", .uint32), ("I32", .int32), ("F32", .float32), ("U64", .uint64), ("I64", .int64),
        ("F64", .float64), ("C64", .complex64), ("F8_E4M3", .float8_e4m3fn), ("F8_E5M2", .float8_e5m2),
    ]

    static func dtype(named name: String) -> DType? { names.first { $0.0 == name }?.1 }
    static func name(of dtype: DType) -> String? { names.first { $0.1 == dtype }?.0 }

    /// Whether `prefix` (the first bytes of a file of `size` bytes) looks like safetensors.
    static func looksLikeSafetensors(_ prefix: [UInt8], size: Int) -> Bool {
        guard prefix.count >= 9 else { return false }
        var length = 0
        for i in 0..<8 { length |= Int(prefix[i]) << (8 * i) }
        // The length is checked by the reader, which says what is wrong with it.
        return length > 1 && prefix[8] == UInt8(ascii: "{")
    }
}

/// A safetensors file. Keys come in data order (safetensors does not keep the
/// writer's order); `__metadata__` becomes string metadata.
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
        func bad(_ message: String, key: String? = nil, _ code: SheafError.Code = .invalidFile) -> SheafError {
            SheafError(code, file: path, key: key, "safetensors: \(message)")
        }
        guard file.size >= 8 else { throw bad("file is \(file.size) bytes, shorter than the 8-byte header length") }
        var cursor = ByteCursor(try file.bytes(at: 0, count: 8), what: "safetensors header length")
        let length = try cursor.u64()
        guard length <= UInt64(SafetensorsFormat.maxHeaderBytes) else {
            throw bad("header of \(length) bytes is over the \(SafetensorsFormat.maxHeaderBytes)-byte limit", .limitExceeded)
        }
        guard Int(length) <= file.size - 8 else { throw bad("header length \(length) runs past the end of the \(file.size)-byte file") }
        let header = try file.bytes(at: 8, count: Int(length))
        guard header.first == UInt8(ascii: "{") else { throw bad("header does not start with '{'") }
        let json: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any] else {
                throw bad("header is not a JSON object")
            }
            json = object
        } catch let error as SheafError { throw error } catch { throw bad("header is not valid JSON: \(error)") }
        let dataStart = 8 + Int(length)
        let dataSize = file.size - dataStart
        var metadata: Metadata = [:]
        var rows: [(begin: Int, end: Int, entry: SourceEntry)] = []
        for (key, value) in json {
            if key == "__metadata__" {
                guard let map = value as? [String: Any] else { throw bad("__metadata__ must be an object of strings") }
                for (name, item) in map {
                    guard let text = item as? String else { throw bad("__metadata__ value for '\(name)' is not a string") }
                    metadata[name] = .string(text)
                }
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shapeValues = info["shape"] as? [NSNumber], let offsetValues = info["data_offsets"] as? [NSNumber],
                  offsetValues.count == 2 else {
                throw bad("entry needs dtype, shape and data_offsets [begin, end]", key: key)
            }
            guard let dtype = SafetensorsFormat.dtype(named: dtypeName) else {
                throw bad("unknown dtype '\(dtypeName)'", key: key, .unknownDType)
            }
            let shape = shapeValues.map(\.intValue)
            let bytes: Int
            do { bytes = try Shape.byteCount(shape, dtype) } catch { throw error.with(file: path, key: key) }
            let begin = offsetValues[0].intValue, end = offsetValues[1].intValue
            guard begin >= 0, end >= begin, end <= dataSize else {
                throw bad("data_offsets [\(begin), \(end)] fall outside the \(dataSize)-byte data section", key: key)
            }
            guard end - begin == bytes else {
                throw bad("\(dtypeName) \(shape) needs \(bytes) bytes, data_offsets span \(end - begin)", key: key, .shapeMismatch)
            }
            rows.append((begin, end, SourceEntry(key: key, dtype: dtype, shape: shape, storage: "contiguous")))
        }
        rows.sort { ($0.begin, $0.end, $0.entry.key) < ($1.begin, $1.end, $1.entry.key) }
        for (a, b) in zip(rows, rows.dropFirst()) where b.begin < a.end {
            throw bad("tensors '\(a.entry.key)' and '\(b.entry.key)' overlap in the data section", key: b.entry.key)
        }
        self.metadata = metadata
        entries = rows.map(\.entry)
        offsets = rows.map { dataStart + $0.begin }
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
