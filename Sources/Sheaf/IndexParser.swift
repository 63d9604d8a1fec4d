/// A small, strict JSON reader for the index: the index of a file with many
/// tensors is megabytes of JSON, and Foundation's decoder spent ~5 µs per entry
/// (46 ms for 10,000 tensors), most of a lazy open. This reader builds only what
/// the index needs and falls back to `JSONDecoder` to describe malformed input.
struct IndexParser {
    enum Value {
        case object([(String, Value)])
        case array([Value])
        case string(String)
        case integer(Int)
        case number(Double)
        case bool(Bool)
        case null
    }

    struct Failure: Error {}

    static let maxDepth = 64
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// What parsing the index gave.
    enum Outcome {
        case document(IndexDocument)
        /// Not JSON, or not of the form section 8 gives.
        case malformed
        /// A key listed twice; parsing stopped at its second entry.
        case duplicate(String)
    }

    /// Parses the index document, or nil when the bytes are not of the expected form.
    static func document(_ bytes: [UInt8]) -> IndexDocument? {
        if case .document(let document) = parse(bytes) { return document }
        return nil
    }

    /// Parses the index in one pass: entries are built as the `tensors` array is
    /// read (no tree of the whole document), and a repeated key stops the parse
    /// at once, so memory stays proportional to the index's distinct entries.
    static func parse(_ bytes: [UInt8]) -> Outcome {
        var parser = IndexParser(bytes)
        do { return try parser.parseIndex() } catch { return .malformed }
    }

    private mutating func parseIndex() throws -> Outcome {
        var tensors: [IndexEntry]?
        var metadataChecksum: String?
        skipSpace()
        try expect("{")
        skipSpace()
        if try !consume("}") {
            while true {
                skipSpace()
                let name = try string()
                skipSpace()
                try expect(":")
                switch name {
                case "tensors":
                    guard tensors == nil else { throw Failure() }
                    var list: [IndexEntry] = []
                    var seen: Set<String> = []
                    skipSpace()
                    try expect("[")
                    skipSpace()
                    if try !consume("]") {
                        while true {
                            guard let entry = Self.entry(try parse(depth: 2)) else { throw Failure() }
                            guard seen.insert(entry.key).inserted else { return .duplicate(entry.key) }
                            list.append(entry)
                            skipSpace()
                            if try consume(",") { continue }
                            try expect("]")
                            break
                        }
                    }
                    tensors = list
                case "metadata_checksum":
                    switch try parse(depth: 1) {
                    case .string(let text): metadataChecksum = text
                    case .null: break
                    default: throw Failure()
                    }
                default:
                    _ = try parse(depth: 1)  // unknown members are ignored (§8)
                }
                skipSpace()
                if try consume(",") { continue }
                try expect("}")
                break
            }
        }
        skipSpace()
        guard position == bytes.count, let tensors else { throw Failure() }
        return .document(IndexDocument(tensors: tensors, metadata_checksum: metadataChecksum))
    }

    private mutating func expect(_ character: Unicode.Scalar) throws {
        guard try consume(character) else { throw Failure() }
    }

    private mutating func consume(_ character: Unicode.Scalar) throws -> Bool {
        guard position < bytes.count else { throw Failure() }
        guard bytes[position] == UInt8(ascii: character) else { return false }
        position += 1
        return true
    }

    private static func entry(_ value: Value) -> IndexEntry? {
        guard case .object(let members) = value else { return nil }
        var key: String?, dtype: String?, shape: [Int]?, nbytes: Int?, storage: String?, checksum: String?, metadata: Bool?
        var offset: Int?, tiedTo: String?, metadataChecksum: String?
        for (name, value) in members {
            switch (name, value) {
            case ("key", .string(let v)): key = v
            case ("dtype", .string(let v)): dtype = v
            case ("shape", .array(let items)):
                var dims: [Int] = []
                for item in items { guard case .integer(let d) = item else { return nil }; dims.append(d) }
                shape = dims
            case ("nbytes", .integer(let v)): nbytes = v
            case ("storage", .string(let v)): storage = v
            case ("checksum", .string(let v)): checksum = v
            case ("metadata", .bool(let v)): metadata = v
            case ("offset", .integer(let v)): offset = v
            case ("offset", .null), ("tied_to", .null), ("metadata_checksum", .null): continue
            case ("tied_to", .string(let v)): tiedTo = v
            case ("metadata_checksum", .string(let v)): metadataChecksum = v
            case ("key", _), ("dtype", _), ("shape", _), ("nbytes", _), ("storage", _), ("checksum", _), ("metadata", _),
                 ("offset", _), ("tied_to", _), ("metadata_checksum", _):
                return nil  // a known member of the wrong type
            default: continue
            }
        }
        guard let key, let dtype, let shape, let nbytes, let storage, let checksum, let metadata else { return nil }
        return IndexEntry(key: key, dtype: dtype, shape: shape, nbytes: nbytes, offset: offset, storage: storage,
                          checksum: checksum, tied_to: tiedTo, metadata: metadata, metadata_checksum: metadataChecksum)
    }

    private mutating func skipSpace() {
        while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x0A || bytes[position] == 0x0D || bytes[position] == 0x09 {
            position += 1
        }
    }

    private mutating func parse(depth: Int) throws -> Value {
        guard depth < Self.maxDepth else { throw Failure() }
        skipSpace()
        guard position < bytes.count else { throw Failure() }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            position += 1
            var members: [(String, Value)] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            while true {
                skipSpace()
                let name = try string()
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw Failure() }
                position += 1
                members.append((name, try parse(depth: depth + 1)))
                skipSpace()
                guard position < bytes.count else { throw Failure() }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                throw Failure()
            }
        case UInt8(ascii: "["):
            position += 1
            var items: [Value] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                items.append(try parse(depth: depth + 1))
                skipSpace()
                guard position < bytes.count else { throw Failure() }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                throw Failure()
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return try number()
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw Failure() }
        for i in 0..<count where bytes[position + i] != word.utf8Start[i] { throw Failure() }
        position += count
    }

    private mutating func number() throws -> Value {
        let start = position
        var integral = true
        while position < bytes.count {
            let c = bytes[position]
            if (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { position += 1; continue }
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { integral = false; position += 1; continue }
            break
        }
        guard position > start else { throw Failure() }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if integral, let value = Int(text) { return .integer(value) }
        guard let value = Double(text) else { throw Failure() }
        return .number(value)
    }

    private mutating func string() throws -> String {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw Failure() }
        position += 1
        let start = position
        // Fast path: no escapes.
        while position < bytes.count, bytes[position] != UInt8(ascii: "\""), bytes[position] != UInt8(ascii: "\\") {
            guard bytes[position] >= 0x20 else { throw Failure() }
            position += 1
        }
        guard position < bytes.count else { throw Failure() }
        if bytes[position] == UInt8(ascii: "\"") {
            defer { position += 1 }
            return try validUTF8(bytes[start..<position])
        }
        var scalars = Array(bytes[start..<position])
        while position < bytes.count {
            let c = bytes[position]
            if c == UInt8(ascii: "\"") { position += 1; return try validUTF8(scalars[...]) }
            if c < 0x20 { throw Failure() }
            if c != UInt8(ascii: "\\") { scalars.append(c); position += 1; continue }
            position += 1
            guard position < bytes.count else { throw Failure() }
            let e = bytes[position]
            position += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append(0x22)
            case UInt8(ascii: "\\"): scalars.append(0x5C)
            case UInt8(ascii: "/"): scalars.append(0x2F)
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else { throw Failure() }
                    position += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw Failure() }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(code) {
                    throw Failure()
                }
                guard let scalar = Unicode.Scalar(code) else { throw Failure() }
                scalars += Array(String(Character(scalar)).utf8)
            default: throw Failure()
            }
        }
        throw Failure()
    }

    private mutating func hex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw Failure() }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            position += 1
            let digit: UInt8
            switch c {
            case 0x30...0x39: digit = c - 0x30
            case 0x41...0x46: digit = c - 0x41 + 10
            case 0x61...0x66: digit = c - 0x61 + 10
            default: throw Failure()
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private func validUTF8(_ slice: ArraySlice<UInt8>) throws -> String {
        guard let text = String(validating: slice, as: UTF8.self) else { throw Failure() }
        return text
    }
}
