import Foundation
import Sheaf

/// An input file opened once, as a regular file, for the whole command.
///
/// Every later read, in this process and in the isolated child, goes through
/// `/proc/self/fd/N` of this one descriptor, so the file that was checked is
/// the file that is read even if the path is renamed over meanwhile, and a
/// FIFO or device is refused before anything blocks on it. Messages name the
/// path as the user gave it.
final class InputFile {
    /// The path as given, for messages.
    let path: String
    let descriptor: FileDescriptor
    let size: Int

    init(_ path: String) throws(SheafError) {
        self.path = path
        (descriptor, size) = try FileDescriptor.openRegularFile(path)
    }

    deinit { descriptor.close() }

    /// The path that reopens this descriptor's file.
    var openPath: String { "/proc/self/fd/\(descriptor.rawValue)" }

    /// Whether the file has the HDF5 signature where HDF5 looks for it.
    var looksLikeHDF5: Bool {
        var offset = 0
        var bytes = [UInt8](repeating: 0, count: 8)
        while offset + 8 <= size {
            let n = bytes.withUnsafeMutableBytes { try? descriptor.read(fromAbsoluteOffset: offset, into: $0) }
            if n == 8 && bytes == [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] { return true }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }

    /// Runs `body` with the reopening path, naming this file as the user gave
    /// it in whatever it throws.
    func reading<R>(_ body: (String) throws -> R) throws -> R {
        do { return try body(openPath) } catch let error as SheafError { throw rename(error, from: openPath) }
    }

    /// `error` with `alias` (a /proc path of this file) replaced by ``path``.
    func rename(_ error: SheafError, from alias: String) -> SheafError {
        var copy = error
        if copy.file == alias { copy.file = path }
        copy.message = copy.message.replacingOccurrences(of: alias, with: path)
        return copy
    }
}
