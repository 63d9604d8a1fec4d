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
        let (folder, temporary) = try prepare(destination, replace: replace)
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

    /// Publishes a folder atomically: `write` fills a fresh temporary folder next
    /// to `destination` (each file written with ``write(to:replace:_:)``), which
    /// is then renamed into place; an existing destination (with `replace`) is
    /// moved aside first and removed after. On failure the temporary folder is
    /// removed and `destination` is as it was.
    public static func writeFolder(to destination: String, replace: Bool = true,
                                   _ write: (String) throws -> Void) throws {
        let (folder, temporary) = try prepare(destination, replace: replace)
        guard mkdir(temporary, 0o755) == 0 else {
            throw FileDescriptor.Errno.current.sheafError("cannot create a temporary folder next to it", file: destination)
        }
        var aside: String?
        do {
            try write(temporary)
            try FileDescriptor.sync(path: temporary, directory: true, about: destination)
            if FileDescriptor.exists(destination) {
                let moved = temporary + "-replaced"
                do { try FileDescriptor.rename(destination, to: moved) } catch {
                    throw error.sheafError("cannot move the existing folder aside", file: destination)
                }
                aside = moved
            }
            do { try FileDescriptor.rename(temporary, to: destination) } catch {
                throw error.sheafError("cannot rename the temporary folder into place", file: destination)
            }
            try FileDescriptor.sync(path: folder, directory: true, about: destination)
        } catch {
            if let aside { _ = try? FileDescriptor.rename(aside, to: destination) }
            removeTree(temporary)
            throw error
        }
        if let aside { removeTree(aside) }
    }

    /// The destination's folder and a fresh temporary path in it; refuses an
    /// existing destination unless `replace`, and a folder that does not exist.
    private static func prepare(_ destination: String, replace: Bool) throws(SheafError) -> (folder: String, temporary: String) {
        let (folder, name) = split(destination)
        var info = stat()
        guard stat(folder, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw SheafError(.io, file: destination, "the folder \(folder) does not exist")
        }
        if !replace && FileDescriptor.exists(destination) {
            throw SheafError(.io, file: destination, "it exists; pass replace: true to replace it (still atomically)", remedy: .replace)
        }
        var random = SystemRandomNumberGenerator()
        return (folder, folder + "/" + temporaryPrefix + name + "-" + String(random.next() & 0xFFFF_FFFF_FFFF, radix: 36))
    }

    /// Removes `path` and, for a folder, what it holds (never following links).
    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in (try? FileDescriptor.names(inFolder: path)) ?? [] { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Splits a path into its folder (`.` when none) and last component.
    package static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }
}
