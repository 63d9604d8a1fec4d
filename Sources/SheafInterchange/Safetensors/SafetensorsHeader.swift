import Foundation
import Sheaf

/// The JSON header of a safetensors file, read and written by the reference
/// implementation's rules (safetensors' Rust core, `Metadata` and `validate`):
///
/// - a JSON object; `__metadata__`, when present, maps names to strings;
/// - every other member is a tensor: `dtype` (a name), `shape` (non-negative
///   integers) and `data_offsets` (exactly two non-negative integers, relative
///   to the data section); integers only — `1.9` or `4.0` is refused, not rounded;
/// - other members of a tensor object are ignored, as the reference does;
/// - a key appears once (the reference keeps the last of a repeated key; Sheaf
///   refuses it rather than silently dropping a tensor).
///
/// The checks that involve the data section (offsets that cover it exactly,
/// with no gap and no overlap) are in ``layout(dataSize:file:)``.
struct SafetensorsHeader: Equatable {
    struct Tensor: Equatable, Encodable {
        var dtype: String
        var shape: [Int]
        var data_offsets: [Int]
    }

    var metadata: [String: String] = [:]
    /// Tensors in header order.
    var tensors: [(key: String, info: Tensor)] = []

    static func == (a: Self, b: Self) -> Bool {
        a.metadata == b.metadata && a.tensors.map(\.key) == b.tensors.map(\.key) && a.tensors.map(\.info) == b.tensors.map(\.info)
    }

    /// A refusal of `file`, prefixed so it is clear which format's rule it is.
    static func refusal(_ message: String, file: String, key: String? = nil, _ code: SheafError.Code = .invalidFile) -> SheafError {
        SheafError(code, file: file, key: key, "safetensors: \(message)")
    }

    /// Parses `bytes` (the header, without its length prefix).
    static func parse(_ bytes: [UInt8], file: String) throws(SheafError) -> SafetensorsHeader {
        func bad(_ message: String, key: String? = nil, _ code: SheafError.Code = .invalidFile) -> SheafError {
            refusal(message, file: file, key: key, code)
        }
        guard let value = JSONReader.value(of: bytes) else {
            throw bad("header is not valid JSON (RFC 8259, UTF-8, nested at most \(JSONReader.maxDepth) deep)")
        }
        guard case .object(let members) = value else { throw bad("header is not a JSON object") }
        var header = SafetensorsHeader()
        var seen: Set<String> = []
        func integers(_ value: JSONReader.Value, _ what: String, key: String) throws(SheafError) -> [Int] {
            guard case .array(let items) = value else { throw bad("\(what) must be an array of integers", key: key) }
            var result: [Int] = []
            result.reserveCapacity(items.count)
            for item in items {
                guard case .integer(let number) = item, number >= 0 else {
                    throw bad("\(what) must hold non-negative integers only", key: key)
                }
                result.append(number)
            }
            return result
        }
        for (key, member) in members {
            guard seen.insert(key).inserted else {
                throw bad("key appears twice in the header; a reader would keep only one of the two tensors", key: key)
            }
            if key == "__metadata__" {
                guard case .object(let items) = member else { throw bad("__metadata__ must be an object of strings") }
                for (name, item) in items {
                    guard case .string(let text) = item else { throw bad("__metadata__ value for '\(name)' is not a string") }
                    guard header.metadata.updateValue(text, forKey: name) == nil else {
                        throw bad("__metadata__ name '\(name)' appears twice")
                    }
                }
                continue
            }
            guard case .object(let fields) = member else { throw bad("entry must be an object", key: key) }
            var dtype: String?, shape: [Int]?, offsets: [Int]?
            for (name, field) in fields {
                switch name {
                case "dtype":
                    guard dtype == nil, case .string(let text) = field else { throw bad("dtype must be one string", key: key) }
                    dtype = text
                case "shape":
                    guard shape == nil else { throw bad("shape appears twice", key: key) }
                    shape = try integers(field, "shape", key: key)
                case "data_offsets":
                    guard offsets == nil else { throw bad("data_offsets appears twice", key: key) }
                    offsets = try integers(field, "data_offsets", key: key)
                default: continue
                }
            }
            guard let dtype, let shape, let offsets, offsets.count == 2 else {
                throw bad("entry needs dtype, shape and data_offsets [begin, end]", key: key)
            }
            header.tensors.append((key, Tensor(dtype: dtype, shape: shape, data_offsets: offsets)))
        }
        return header
    }

    /// One tensor placed in the data section.
    struct Placement {
        var key: String
        var dtype: DType
        var shape: [Int]
        var begin: Int
    }

    /// The tensors in data order, checked against a data section of
    /// `dataSize` bytes: known dtypes, offsets that span exactly the shape's
    /// bytes, and tensors that cover the data section from 0 to its end with
    /// no gap and no overlap (the reference's defence against files that are
    /// also something else).
    func layout(dataSize: Int, file: String) throws(SheafError) -> [Placement] {
        func bad(_ message: String, key: String? = nil, _ code: SheafError.Code = .invalidFile) -> SheafError {
            Self.refusal(message, file: file, key: key, code)
        }
        var rows: [(begin: Int, end: Int, placement: Placement)] = []
        rows.reserveCapacity(tensors.count)
        for (key, info) in tensors {
            guard let dtype = SafetensorsFormat.dtype(named: info.dtype) else {
                throw bad("unknown dtype '\(info.dtype)'", key: key, .unknownDType)
            }
            let bytes: Int
            do { bytes = try Shape.byteCount(info.shape, dtype) } catch { throw error.with(file: file, key: key) }
            let begin = info.data_offsets[0], end = info.data_offsets[1]
            guard end >= begin, end <= dataSize else {
                throw bad("data_offsets [\(begin), \(end)] fall outside the \(dataSize)-byte data section", key: key)
            }
            guard end - begin == bytes else {
                throw bad("\(info.dtype) \(info.shape) needs \(bytes) bytes, data_offsets span \(end - begin)", key: key, .shapeMismatch)
            }
            rows.append((begin, end, Placement(key: key, dtype: dtype, shape: info.shape, begin: begin)))
        }
        rows.sort { ($0.begin, $0.end, $0.placement.key) < ($1.begin, $1.end, $1.placement.key) }
        var covered = 0
        for row in rows {
            guard row.begin <= covered else {
                throw bad("the data section has a gap of \(row.begin - covered) bytes before this tensor (at \(covered)); tensors must cover it with no holes",
                          key: row.placement.key)
            }
            guard row.begin == covered else {
                throw bad("tensor overlaps the one before it in the data section (starts at \(row.begin), the previous ends at \(covered))",
                          key: row.placement.key)
            }
            covered = row.end
        }
        guard covered == dataSize else {
            throw bad("\(dataSize - covered) bytes after the last tensor's data are not part of any tensor; the data section must end where the last tensor does")
        }
        return rows.map(\.placement)
    }

    /// The header as the reference writes it: JSON (keys sorted; `__metadata__`
    /// only when there is metadata), padded with spaces so the data starts at a
    /// multiple of 8.
    func encoded() throws(SheafError) -> [UInt8] {
        struct Name: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        struct Document: Encodable {
            let header: SafetensorsHeader
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Name.self)
                if !header.metadata.isEmpty { try container.encode(header.metadata, forKey: Name(stringValue: "__metadata__")) }
                for (key, info) in header.tensors { try container.encode(info, forKey: Name(stringValue: key)) }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes: [UInt8]
        do { bytes = Array(try encoder.encode(Document(header: self))) } catch {
            throw SheafError(.invalidArgument, "safetensors: cannot encode the header: \(error)")
        }
        while (8 + bytes.count) % 8 != 0 { bytes.append(0x20) }
        return bytes
    }
}
