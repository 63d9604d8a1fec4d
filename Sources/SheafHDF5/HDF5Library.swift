import CHDF5
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The one funnel every libhdf5 call goes through.
///
/// libhdf5 is not safe to call from several threads at once in every build, and its
/// error stack is global in the serial build, so each call runs under one
/// process-wide lock, and a failure's error stack is read and cleared before the
/// lock is released. HDF5's automatic printing to stderr is turned off once, and
/// the process-wide defences of the read policy are set before the first call:
/// external links cannot be traversed, no filter plugin is loaded from disk,
/// and the environment variables that redirect outside-file lookups are removed.
public enum HDF5Library {
    private static let lock: Mutex<Bool> = Mutex(false)

    /// Runs `body` (one C call) under the lock; `failed` says whether its result
    /// means failure, in which case the error stack becomes an ``HDF5Error``.
    @inline(__always)
    public static func call<R>(
        _ operation: String, _ object: @autoclosure () -> String,
        failed: (R) -> Bool, _ body: () -> R
    ) throws(HDF5Error) -> R {
        let outcome: Result<R, HDF5Error> = lock.withLock { initialized in
            if !initialized {
                chdf5_prepare()
                _ = H5open()
                chdf5_harden()
                initialized = true
            }
            _ = chdf5_silence_errors()
            let value = body()
            if failed(value) {
                return .failure(HDF5Error(
                    operation: operation, object: object(), message: takeErrorStack()))
            }
            return .success(value)
        }
        return try outcome.get()
    }

    /// A call returning `hid_t`, `herr_t`, `htri_t` or another signed status, where
    /// a negative value means failure.
    @inline(__always)
    @discardableResult
    public static func call<R: SignedInteger>(
        _ operation: String, _ object: @autoclosure () -> String, _ body: () -> R
    ) throws(HDF5Error) -> R {
        try call(operation, object(), failed: { $0 < 0 }, body)
    }

    private static func takeErrorStack() -> String {
        var buffer = [CChar](repeating: 0, count: 2048)
        let used = buffer.withUnsafeMutableBufferPointer {
            chdf5_take_error_stack($0.baseAddress!, $0.count)
        }
        return String(decoding: buffer[..<used].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The number of open HDF5 objects of every kind in every file; used by tests
    /// to prove that handles are not leaked.
    public static func openObjectCount() throws(HDF5Error) -> Int {
        Int(try call("H5Fget_obj_count", "*") {
            H5Fget_obj_count(chdf5_f_obj_all_files(), chdf5_f_obj_all())
        })
    }

    /// The number of open HDF5 identifiers (files, groups, datasets, types,
    /// attributes) that belong to files whose path starts with `prefix`.
    public static func openObjectCount(inFilesUnder prefix: String) throws(HDF5Error) -> Int {
        Int(try call("H5Fget_obj_ids", prefix) { chdf5_open_objects_under(prefix) })
    }

    /// The HDF5 format signature.
    public static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Whether the open file `descriptor` has the HDF5 signature at offset 0, 512,
    /// 1024, … (where HDF5 looks), read without libhdf5 (which would lock the file).
    public static func hasSignature(descriptor: Int32, size: Int) -> Bool {
        var offset = 0
        var bytes = [UInt8](repeating: 0, count: 8)
        while offset + 8 <= size {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, 8, off_t(offset)) }
            if n == 8 && bytes == signature { return true }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }

}
