import Sheaf

/// A read-only file for positioned reads, closed when the last reference goes.
///
/// Every reader of a foreign format goes through this: sizes are checked against
/// ``size`` before anything is allocated.
final class FileReader: Sendable {
    let path: String
    let descriptor: FileDescriptor
    let size: Int

    init(path: String) throws(SheafError) {
        self.path = path
        (descriptor, size) = try FileDescriptor.openRegularFile(path)
    }

    deinit { descriptor.close() }

    /// Reads exactly `buffer.count` bytes at `offset`, or throws naming what was expected.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(SheafError) {
        guard offset >= 0, offset <= size, buffer.count <= size - offset else {
            throw SheafError(.invalidFile, file: path,
                             "needs \(buffer.count) bytes at offset \(offset), but the file has \(size) bytes")
        }
        let done: Int
        do { done = try descriptor.read(fromAbsoluteOffset: offset, into: buffer) } catch {
            throw error.sheafError("read failed", file: path)
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
