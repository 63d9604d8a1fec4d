import Foundation
import Sheaf
import SheafHDF5

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

    /// - Throws: ``UnreadableInput`` when `path` cannot be opened as a regular file.
    init(_ path: String) throws(UnreadableInput) {
        self.path = path
        do { (descriptor, size) = try FileDescriptor.openRegularFile(path) } catch { throw UnreadableInput(error: error) }
    }

    deinit { descriptor.close() }

    /// The path that reopens this descriptor's file.
    var openPath: String { Platform.path(of: descriptor) }

    /// Whether the file has the HDF5 signature where HDF5 looks for it.
    var looksLikeHDF5: Bool { descriptor.hasHDF5Signature(size: size) }

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
