// Everything Sheaf needs from the operating system that is not POSIX lives
// here, so the platform requirement is stated once.
//
// Sheaf runs on Linux: a file opened and checked once is handed to libhdf5 and
// to the isolated reader as `/proc/self/fd/N` (the same inode, whatever happens
// to the path), the isolated reader re-executes `/proc/self/exe`, and mapped
// reads prefault with `MAP_POPULATE`.
#if os(Linux) && canImport(Glibc)
import Glibc
#else
#error("Sheaf runs on Linux only (glibc): it opens files through /proc/self/fd, re-executes /proc/self/exe and maps files with MAP_POPULATE")
#endif

/// The Linux facilities Sheaf builds on.
package enum Platform {
    /// A path that names the already open `descriptor`'s file (not whatever is
    /// at its original path now).
    package static func path(of descriptor: FileDescriptor) -> String { "/proc/self/fd/\(descriptor.rawValue)" }

    /// The running executable.
    package static let executablePath = "/proc/self/exe"

    /// This process's memory use in pages (first field: the address space).
    package static let statusPath = "/proc/self/statm"

    /// Flags for a read-only mapping whose pages are read in at once.
    package static let prefaultedMapping = MAP_PRIVATE | MAP_POPULATE

}
