/// A small, strict JSON reader (RFC 8259): integers stay integers (a number
/// with a fraction or exponent is never read as one), objects keep every
/// member in order (so a repeated name is visible), strings must be valid
/// UTF-8, nesting is capped at ``maxDepth``.
///
/// Written here rather than taken from Foundation because readers of large
/// headers need what `JSONDecoder` cannot give: Foundation's decoder spent
/// ~5 µs per index entry (46 ms for 10,000 tensors, most of a lazy open), and
/// neither it nor `JSONSerialization` reports a repeated object member.
package struct JSONReader {
    package enum Value {
        case object([(String, Value)])
        case array([Value])
        case string(String)
        case integer(Int)
        case number(Double)
        case bool(Bool)
        case null
    }

    package struct Failure: Error {}

    package static let maxDepth = 200
    let bytes: [UInt8]
    var position = 0

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The one JSON value of `bytes` (whitespace around it allowed), or nil.
    package static func value(of bytes: [UInt8]) -> Value? {
        var reader = JSONReader(bytes)
        guard let value = try? reader.parse(depth: 0) else { return nil }
        reader.skipSpace()
        return reader.position == bytes.count ? value : nil
    }

    /// Whether `bytes` is one JSON object in which no object, at any depth,
    /// repeats a member name (parsers disagree on which repeat wins).
    package static func isObjectWithoutRepeatedMembers(_ bytes: [UInt8]) -> Bool {
        func check(_ value: Value) -> Bool {
            switch value {
            case .object(let members):
                var names: Set<String> = []
                for member in members {
                    guard names.insert(member.0).inserted, check(member.1) else { return false }
                }
                return true
            case .array(let items): return items.allSatisfy(check)
            default: return true
            }
        }
        guard let value = value(of: bytes), case .object = value else { return false }
        return check(value)
    }

    mutating func expect(_ character: Unicode.Scalar) throws {
        guard try consume(character) else { throw Failure() }
    }

    mutating func consume(_ character: Unicode.Scalar) throws -> Bool {
        guard position < bytes.count else { throw Failure() }
        guard bytes[position] == UInt8(ascii: character) else { return false }
        position += 1
        return true
    }

    mutating func skipSpace() {
        while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x0A || bytes[position] == 0x0D || bytes[position] == 0x09 {
            position += 1
        }
    }

    mutating func parse(depth: Int) throws -> Value {
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

    mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw Failure() }
        for i in 0..<count where bytes[position + i] != word.utf8Start[i] { throw Failure() }
        position += count
    }

    /// A JSON integer read straight from its digits (no text in between);
    /// nil, with the position unchanged, when the number is not an integer
    /// that fits in `Int` (then ``number()`` reads it).
    mutating func integer() -> Int? {
        bytes.withUnsafeBufferPointer { Self.integer($0, at: &position) }
    }

    /// The JSON integer at `position` of `bytes`, the position moved past it;
    /// nil, with the position unchanged, when the number there is not an
    /// integer that fits in `Int`. (Shared with ``IndexScanner``.)
    static func integer(_ bytes: UnsafeBufferPointer<UInt8>, at position: inout Int) -> Int? {
        var index = position
        let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        let first = index
        var value = 0
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = negative ? times.subtractingReportingOverflow(Int(bytes[index] - 0x30))
                                     : times.addingReportingOverflow(Int(bytes[index] - 0x30))
            if o1 || o2 { return nil }
            value = sum
            index += 1
        }
        guard index > first, index - first == 1 || bytes[first] != 0x30 else { return nil }
        if index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-"): return nil
            default: break
            }
        }
        position = index
        return value
    }

    mutating func number() throws -> Value {
        if let value = integer() { return .integer(value) }
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

    mutating func string() throws -> String {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw Failure() }
        position += 1
        let start = position
        // Fast path: no escapes; ASCII needs no UTF-8 validation.
        var high: UInt8 = 0
        while position < bytes.count, bytes[position] != UInt8(ascii: "\""), bytes[position] != UInt8(ascii: "\\") {
            guard bytes[position] >= 0x20 else { throw Failure() }
            high |= bytes[position]
            position += 1
        }
        guard position < bytes.count else { throw Failure() }
        if bytes[position] == UInt8(ascii: "\"") {
            defer { position += 1 }
            let end = position
            if high < 0x80 {
                return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[start..<end]), as: UTF8.self) }
            }
            return try validUTF8(bytes[start..<end])
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

    mutating func hex4() throws -> UInt32 {
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

    func validUTF8(_ slice: ArraySlice<UInt8>) throws -> String {
        // Through a buffer pointer: the generic ArraySlice path instantiates
        // type metadata on every call.
        let text = slice.withUnsafeBufferPointer { String(validating: $0, as: UTF8.self) }
        guard let text else { throw Failure() }
        return text
    }
}
