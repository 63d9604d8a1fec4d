import Foundation
import Sheaf
import SheafInterchange

/// An input file opened once, as a regular file, for the whole command.
///
/// Every later read, in this process and in the isolated child, goes through
/// `/proc/self/fd/N` of this one descriptor, so the file that was checked is
/// the file that is read even if the path is renamed over meanwhile, and a
/// FIFO or device is refused before anything blocks on it. A model folder, and
/// a sharded checkpoint's index, are read by path: their files are found by
/// name next to them. Messages name the path as the user gave it.
final class InputFile {
    /// The path as given, for messages.
    let path: String
    /// The open file and its size; nil for a model folder.
    let opened: (descriptor: FileDescriptor, size: Int)?
    /// Whether the file starts as a JSON object does (a sharded checkpoint's or
    /// set's index): it is read by path, since its shards are found beside it.
    let startsWithJSONObject: Bool

    /// - Throws: ``UnreadableInput`` when `path` is neither a folder nor openable as a regular file.
    init(_ path: String) throws(UnreadableInput) {
        self.path = path
        if ModelFolder.isFolder(path) {
            opened = nil
            startsWithJSONObject = false
            return
        }
        let file: (descriptor: FileDescriptor, size: Int)
        do { file = try FileDescriptor.openRegularFile(path) } catch { throw UnreadableInput(error: error) }
        var prefix = [UInt8](repeating: 0, count: 64)
        let count = prefix.withUnsafeMutableBytes { buffer in (try? file.descriptor.read(fromAbsoluteOffset: 0, into: buffer)) ?? 0 }
        opened = file
        startsWithJSONObject = ShardIndex.mayBeIndex(Array(prefix.prefix(count)))
    }

    deinit { opened?.descriptor.close() }

    /// The path readers open: this descriptor's `/proc/self/fd/N`, or the path as
    /// given for a folder or an index (whose shards are found next to it).
    var openPath: String {
        guard let opened, !startsWithJSONObject else { return path }
        return Platform.path(of: opened.descriptor)
    }

    /// Whether the file has the HDF5 signature where HDF5 looks for it.
    var looksLikeHDF5: Bool { opened.map { $0.descriptor.hasHDF5Signature(size: $0.size) } ?? false }

    /// Runs `body` with the reopening path, naming this file as the user gave
    /// it in whatever it throws.
    func reading<R>(_ body: (String) throws -> R) throws -> R {
        do { return try body(openPath) } catch let error as SheafError { throw rename(error, from: openPath) }
    }

    /// `error` with `alias` (a /proc path of this file) replaced by ``path``.
    func rename(_ error: SheafError, from alias: String) -> SheafError {
        var copy = error
        // The file itself, or a member of it ("ALIAS (model.weights.h5)").
        if let file = copy.file, file == alias || file.hasPrefix(alias + " ") { copy.file = path + file.dropFirst(alias.count) }
        copy.message = copy.message.replacingOccurrences(of: alias, with: path)
        return copy
    }
}
