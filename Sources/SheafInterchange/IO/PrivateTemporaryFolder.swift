import Glibc
import Sheaf

/// A fresh folder only this user can enter (`mkdtemp`, mode 0700) in `$TMPDIR`
/// or `/tmp`, for files a library can only read from disk (libhdf5); removed, with the files it
/// was asked to name, when the value goes (keep it alive with
/// `withExtendedLifetime` while its files are used).
final class PrivateTemporaryFolder {
    let path: String
    private var files: [String] = []

    init(about subject: String) throws(SheafError) {
        let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/sheaf-keras-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) != nil }) else {
            throw FileDescriptor.Errno.current.sheafError("cannot create a temporary folder for \(subject) in", file: base)
        }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The path of `name` in the folder, removed with it.
    func file(_ name: String) -> String {
        files.append(path + "/" + name)
        return path + "/" + name
    }

    deinit {
        for file in files { unlink(file) }
        rmdir(path)
    }
}
