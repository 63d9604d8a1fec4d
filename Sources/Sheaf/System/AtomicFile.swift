import Glibc


/// Writes a file atomically: into a temporary file in the destination's folder,
/// then flush, fsync, rename over the destination, and fsync the folder.
///
/// A failed or interrupted write never leaves a file under the destination name
/// and never damages the file that was there; the temporary file is removed on
/// failure, and by a program that calls
/// `PendingTemporaryFiles.removeOnFatalSignals()` also when a signal stops it.
public enum AtomicFile {
    /// Prefix of temporary files, so cleanup can find them after a crash.
    public static let temporaryPrefix = ".sheaf-tmp-"

    /// Calls `write` with a fresh temporary path next to `destination`, then
    /// publishes it. When `replace` is false an existing destination is an error.
    public static func write(to destination: String, replace: Bool = true,
                             _ write: (String) throws -> Void) throws {
        let (folder, name) = split(destination)
        if !replace && FileDescriptor.exists(destination) {
            throw SheafError(.io, file: destination, "file exists; pass replace: true to replace it (still atomically)", remedy: .replace)
        }
        var random = SystemRandomNumberGenerator()
        let temporary = folder + "/" + temporaryPrefix + name + "-" + String(random.next() & 0xFFFF_FFFF_FFFF, radix: 36)
        let slot = PendingTemporaryFiles.register(temporary)
        defer { PendingTemporaryFiles.unregister(slot) }
        do {
            try write(temporary)
            try FileDescriptor.sync(path: temporary, about: destination)
            do { try FileDescriptor.rename(temporary, to: destination) } catch {
                throw error.sheafError("cannot rename temporary file into place", file: destination)
            }
            try FileDescriptor.sync(path: folder, directory: true, about: destination)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Splits a path into its folder (`.` when none) and last component.
    package static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }
}
