import Glibc

/// A POSIX file descriptor, after swift-system's `FileDescriptor`: every system
/// call goes through ``valueOrErrno(retryOnInterrupt:_:)``, which retries
/// `EINTR` and keeps `errno` as a value (``Errno``); callers turn that into a
/// ``SheafError`` whose ``SheafError/cause`` is the `errno`.
///
/// A descriptor does not close itself: the type that holds it does (exactly once).
package struct FileDescriptor: Sendable {
    package let rawValue: Int32

    package init(rawValue: Int32) { self.rawValue = rawValue }

    /// An `errno` value.
    package struct Errno: Error, Sendable, Equatable, CustomStringConvertible {
        package let code: Int32
        package init(code: Int32) { self.code = code }
        package var description: String { String(cString: strerror(code)) }

        /// The current `errno`.
        package static var current: Errno { Errno(code: errno) }

        /// A ``SheafError`` about `file`: `what` was being done, this value is
        /// its ``SheafError/cause`` and its text ends the message.
        package func sheafError(_ what: String, file: String?, code errorCode: SheafError.Code = .io) -> SheafError {
            SheafError(errorCode, file: file, "\(what): \(self)", cause: .errno(code))
        }
    }

    /// Runs `call` until it does not fail with `EINTR`; a result of -1 becomes
    /// the `errno` it set.
    package static func valueOrErrno<I: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ call: () -> I) -> Result<I, Errno> {
        while true {
            let value = call()
            if value != -1 { return .success(value) }
            let code = errno
            if retryOnInterrupt && code == EINTR { continue }
            return .failure(Errno(code: code))
        }
    }

    // MARK: Opening

    /// Opens `path` with `flags` (`O_CLOEXEC` always added).
    package static func open(_ path: String, _ flags: Int32, permissions: mode_t = 0o644) throws(Errno) -> FileDescriptor {
        FileDescriptor(rawValue: try valueOrErrno { Glibc.open(path, flags | O_CLOEXEC, permissions) }.get())
    }

    /// Creates a new file at `path` for writing; an existing file is an error (`O_EXCL`).
    package static func create(_ path: String) throws(SheafError) -> FileDescriptor {
        do { return try open(path, O_WRONLY | O_CREAT | O_EXCL) } catch { throw error.sheafError("cannot create", file: path) }
    }

    /// Opens `path` read-only if it is a regular file, without blocking on a
    /// FIFO or device on the way: the open is non-blocking, the type is taken
    /// from the opened descriptor (not the path, which may change), then the
    /// descriptor is made blocking again.
    /// - Throws: ``SheafError`` `fileNotFound`, or `io` naming what the path is.
    package static func openRegularFile(_ path: String) throws(SheafError) -> (FileDescriptor, size: Int) {
        let descriptor: FileDescriptor
        do { descriptor = try open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY) } catch {
            throw error.sheafError("cannot open", file: path, code: error.code == ENOENT ? .fileNotFound : .io)
        }
        do throws(SheafError) {
            let info = try descriptor.status(path)
            let type = info.st_mode & S_IFMT
            guard type == S_IFREG else {
                let what = type == S_IFDIR ? "a directory" : type == S_IFIFO ? "a FIFO" : type == S_IFCHR ? "a character device"
                    : type == S_IFBLK ? "a block device" : type == S_IFSOCK ? "a socket" : "not a regular file"
                throw SheafError(.io, file: path, "not a regular file (\(what)); Sheaf reads regular files only")
            }
            let flags = fcntl(descriptor.rawValue, F_GETFL)
            guard flags >= 0, fcntl(descriptor.rawValue, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
                throw Errno.current.sheafError("cannot set the descriptor blocking", file: path)
            }
            return (descriptor, Int(info.st_size))
        } catch {
            descriptor.close()
            throw error
        }
    }

    // MARK: Calls

    /// `fstat` of the open file.
    package func status(_ path: String) throws(SheafError) -> stat {
        var info = stat()
        switch Self.valueOrErrno({ fstat(rawValue, &info) }) {
        case .success: return info
        case .failure(let error): throw error.sheafError("cannot stat", file: path)
        }
    }

    /// Reads exactly `buffer.count` bytes at `offset`; returns fewer only when
    /// the file ends first.
    package func read(fromAbsoluteOffset offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            let n = try Self.valueOrErrno { pread(rawValue, base + done, buffer.count - done, off_t(offset + done)) }.get()
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all of `buffer` at the current position.
    package func writeAll(_ buffer: UnsafeRawBufferPointer) throws(Errno) {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            done += try Self.valueOrErrno { Glibc.write(rawValue, base + done, min(buffer.count - done, 1 << 30)) }.get()
        }
    }

    /// Flushes the file's data and metadata to stable storage.
    package func sync() throws(Errno) {
        _ = try Self.valueOrErrno { fsync(rawValue) }.get()
    }

    package func close() { _ = Glibc.close(rawValue) }

    // MARK: Paths

    /// Opens `path` (a file, or a folder with `directory`), fsyncs it and closes it.
    package static func sync(path: String, directory: Bool = false, about file: String) throws(SheafError) {
        let descriptor: FileDescriptor
        do { descriptor = try open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) } catch {
            throw error.sheafError("cannot open \(path) to sync it", file: file)
        }
        defer { descriptor.close() }
        do { try descriptor.sync() } catch { throw error.sheafError("fsync of \(path) failed", file: file) }
    }

    /// Renames `from` to `to`, replacing `to`.
    package static func rename(_ from: String, to: String) throws(Errno) {
        _ = try valueOrErrno { Glibc.rename(from, to) }.get()
    }

    /// The names in the folder at `path` (not `.` and `..`), in directory order.
    package static func names(inFolder path: String) throws(Errno) -> [String] {
        guard let folder = opendir(path) else { throw Errno.current }
        defer { closedir(folder) }
        var names: [String] = []
        while let entry = readdir(folder) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Whether something exists at `path` (without following a final symlink's target's absence).
    package static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
