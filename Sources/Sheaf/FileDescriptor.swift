#if canImport(Glibc)
import Glibc
#else
#error("Sheaf runs on Linux only: it reads files through /proc/self/fd and Glibc")
#endif

/// A POSIX file descriptor for reading, after swift-system's `FileDescriptor`:
/// every system call goes through ``valueOrErrno(retryOnInterrupt:_:)``, which
/// retries `EINTR` and keeps `errno` as a value.
package struct FileDescriptor: Sendable {
    package let rawValue: Int32

    package init(rawValue: Int32) { self.rawValue = rawValue }

    /// An `errno` value.
    package struct Errno: Error, Sendable, Equatable, CustomStringConvertible {
        package let code: Int32
        package var description: String { String(cString: strerror(code)) }
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

    /// Opens `path` read-only if it is a regular file, without blocking on a
    /// FIFO or device on the way: the open is non-blocking, the type is taken
    /// from the opened descriptor (not the path, which may change), then the
    /// descriptor is made blocking again.
    /// - Throws: ``SheafError`` `fileNotFound`, or `io` naming what the path is.
    package static func openRegularFile(_ path: String) throws(SheafError) -> (FileDescriptor, size: Int) {
        let opened = valueOrErrno { open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) }
        guard case .success(let raw) = opened else {
            if case .failure(let error) = opened {
                throw SheafError(error.code == ENOENT ? .fileNotFound : .io, file: path, "cannot open: \(error)")
            }
            throw SheafError(.io, file: path, "cannot open")
        }
        let descriptor = FileDescriptor(rawValue: raw)
        do throws(SheafError) {
            let info = try descriptor.status(path)
            let type = info.st_mode & S_IFMT
            guard type == S_IFREG else {
                let what = type == S_IFDIR ? "a directory" : type == S_IFIFO ? "a FIFO" : type == S_IFCHR ? "a character device"
                    : type == S_IFBLK ? "a block device" : type == S_IFSOCK ? "a socket" : "not a regular file"
                throw SheafError(.io, file: path, "not a regular file (\(what)); Sheaf reads regular files only")
            }
            let flags = fcntl(raw, F_GETFL)
            guard flags >= 0, fcntl(raw, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
                throw SheafError(.io, file: path, "cannot set the descriptor blocking: \(Errno(code: errno))")
            }
            return (descriptor, Int(info.st_size))
        } catch {
            descriptor.close()
            throw error
        }
    }

    /// `fstat` of the open file.
    package func status(_ path: String) throws(SheafError) -> stat {
        var info = stat()
        switch Self.valueOrErrno({ fstat(rawValue, &info) }) {
        case .success: return info
        case .failure(let error): throw SheafError(.io, file: path, "cannot stat: \(error)")
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

    package func close() { _ = Glibc.close(rawValue) }
}
