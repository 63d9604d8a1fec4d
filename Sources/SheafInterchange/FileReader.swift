import Sheaf
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only file for positioned reads, closed when the last reference goes.
///
/// Every reader of a foreign format goes through this: sizes are checked against
/// ``size`` before anything is allocated.
final class FileReader: @unchecked Sendable {
    let path: String
    let descriptor: Int32
    let size: Int

    init(path: String) throws(SheafError) {
        self.path = path
        let (file, size) = try FileDescriptor.openRegularFile(path)
        descriptor = file.rawValue
        self.size = size
    }

    deinit { close(descriptor) }

    /// Reads exactly `buffer.count` bytes at `offset`, or throws naming what was expected.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(SheafError) {
        guard offset >= 0, offset <= size, buffer.count <= size - offset else {
            throw SheafError(.invalidFile, file: path,
                             "needs \(buffer.count) bytes at offset \(offset), but the file has \(size) bytes")
        }
        let done: Int
        do { done = try FileDescriptor(rawValue: descriptor).read(fromAbsoluteOffset: offset, into: buffer) } catch {
            throw SheafError(.io, file: path, "read failed: \(error)")
        }
        guard done == buffer.count else { throw SheafError(.invalidFile, file: path, "file ends early at offset \(offset + done)") }
    }

    func bytes(at offset: Int, count: Int) throws(SheafError) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        try result.withUnsafeMutableBytes { buffer in
            Result { () throws(SheafError) in try read(into: buffer, at: offset) }
        }.get()
        return result
    }

    /// A tensor whose bytes are `count` bytes read at `offset`.
    func tensor(dtype: DType, shape: [Int], at offset: Int, key: String) throws(SheafError) -> Tensor {
        let expected = try Shape.byteCount(shape, dtype)
        guard offset >= 0, offset <= size, expected <= size - offset else {
            throw SheafError(.invalidFile, file: path, key: key,
                             "\(dtype) \(shape) needs \(expected) bytes at offset \(offset), file has \(size) bytes")
        }
        do {
            return try Tensor(dtype: dtype, shape: shape) { buffer in try self.read(into: buffer, at: offset) }
        } catch let error as SheafError { throw error.with(file: path, key: key) } catch {
            throw SheafError(.io, file: path, key: key, "\(error)")
        }
    }
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
