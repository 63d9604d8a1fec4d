#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        if !replace && access(destination, F_OK) == 0 {
            throw SheafError(.io, file: destination, "file exists; pass --force (or replace: true) to replace it")
        }
        var random = SystemRandomNumberGenerator()
        let temporary = folder + "/" + temporaryPrefix + name + "-" + String(random.next() & 0xFFFF_FFFF_FFFF, radix: 36)
        let slot = PendingTemporaryFiles.register(temporary)
        defer { PendingTemporaryFiles.unregister(slot) }
        do {
            try write(temporary)
            try fsyncPath(temporary, file: destination)
            guard rename(temporary, destination) == 0 else {
                throw SheafError(.io, file: destination, "cannot rename temporary file into place: \(errnoText())")
            }
            try fsyncPath(folder, file: destination, directory: true)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Splits a path into its folder (`.` when none) and last component.
    static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }

    static func fsyncPath(_ path: String, file: String, directory: Bool = false) throws(SheafError) {
        let fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard fd >= 0 else { throw SheafError(.io, file: file, "cannot open \(path) to sync it: \(errnoText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SheafError(.io, file: file, "fsync of \(path) failed: \(errnoText())") }
    }
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
