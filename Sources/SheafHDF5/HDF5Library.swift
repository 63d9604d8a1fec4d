import CHDF5
import Glibc
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
package enum HDF5Library {
    private static let lock = Mutex(())
    /// libhdf5's one-time setup, run before the first call by Swift's
    /// once-only initialization of globals. (Kept out of the mutex's value:
    /// `Mutex` on Linux synchronizes through futexes the thread sanitizer
    /// cannot see, so state inside it reads as a race when two threads make
    /// the first calls at once.)
    private static let prepared: Bool = {
        chdf5_prepare()
        _ = H5open()
        chdf5_harden()
        return true
    }()

    /// Runs `body` (one C call) under the lock; `failed` says whether its result
    /// means failure, in which case the error stack becomes an ``HDF5Error``.
    @inline(__always)
    package static func call<R>(
        _ operation: String, _ object: @autoclosure () -> String,
        failed: (R) -> Bool, _ body: () -> R
    ) throws(HDF5Error) -> R {
        _ = prepared
        let outcome: Result<R, HDF5Error> = lock.withLock { _ in
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
    package static func call<R: SignedInteger>(
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
    package static func openObjectCount() throws(HDF5Error) -> Int {
        Int(try call("H5Fget_obj_count", "*") {
            H5Fget_obj_count(chdf5_f_obj_all_files(), chdf5_f_obj_all())
        })
    }

    /// The number of open HDF5 identifiers (files, groups, datasets, types,
    /// attributes) that belong to files whose path starts with `prefix`.
    package static func openObjectCount(inFilesUnder prefix: String) throws(HDF5Error) -> Int {
        Int(try call("H5Fget_obj_ids", prefix) { chdf5_open_objects_under(prefix) })
    }


}
