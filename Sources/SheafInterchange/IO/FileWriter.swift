import Sheaf

/// Sequential writes to a new file (the temporary file of an atomic save),
/// through the format library's ``FileDescriptor``.
final class FileWriter {
    let path: String
    private let descriptor: FileDescriptor
    private(set) var position = 0

    init(path: String) throws(SheafError) {
        self.path = path
        descriptor = try FileDescriptor.create(path)
    }

    deinit { descriptor.close() }

    func write(_ bytes: UnsafeRawBufferPointer) throws(SheafError) {
        do { try descriptor.writeAll(bytes) } catch { throw error.sheafError("write failed", file: path) }
        position += bytes.count
    }

    func write(_ bytes: [UInt8]) throws(SheafError) {
        try bytes.withUnsafeBytes { buffer in Result { () throws(SheafError) in try write(buffer) } }.get()
    }

    func write(_ tensor: Tensor) throws(SheafError) {
        try tensor.withUnsafeBytes { buffer in Result { () throws(SheafError) in try write(buffer) } }.get()
    }
}
