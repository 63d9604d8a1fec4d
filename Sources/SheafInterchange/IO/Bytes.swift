import Sheaf

/// Little-endian byte building.
struct ByteBuilder {
    var bytes: [UInt8] = []
    mutating func u16(_ v: Int) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u32(_ v: Int) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: Int) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func append(_ more: [UInt8]) { bytes += more }
}

/// Little-endian loads from byte arrays with bounds checks.
struct ByteCursor {
    let bytes: [UInt8]
    var position = 0
    let what: String

    init(_ bytes: [UInt8], what: String) { self.bytes = bytes; self.what = what }

    var remaining: Int { bytes.count - position }

    mutating func take(_ n: Int) throws(SheafError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else {
            throw SheafError(.invalidFile, "\(what): needs \(n) bytes at \(position), only \(remaining) left")
        }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    mutating func u8() throws(SheafError) -> UInt8 {
        let byte = try take(1)
        return byte[byte.startIndex]
    }
    mutating func u16() throws(SheafError) -> UInt16 { UInt16(try uint(2)) }
    mutating func u32() throws(SheafError) -> UInt32 { UInt32(try uint(4)) }
    mutating func u64() throws(SheafError) -> UInt64 { try uint(8) }

    mutating func uint(_ n: Int) throws(SheafError) -> UInt64 {
        let slice = try take(n)
        var value: UInt64 = 0
        for (i, byte) in slice.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        return value
    }
}
