#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes behind one or more ``Tensor`` values.
///
/// Storage is allocated 64-byte aligned and is never resized. Tensors share a
/// storage until one of them is mutated (copy on write), and two keys of a
/// ``StateDict`` that share a storage are written once (tied tensors).
public final class TensorStorage: @unchecked Sendable {
    /// The storage's size in bytes.
    public let byteCount: Int
    let base: UnsafeMutableRawPointer

    /// Allocates `byteCount` zeroed bytes.
    init(byteCount: Int) {
        self.byteCount = byteCount
        var pointer: UnsafeMutableRawPointer?
        // posix_memalign only fails for out-of-memory, which Swift treats as fatal anyway.
        if posix_memalign(&pointer, 64, max(byteCount, 1)) != 0 || pointer == nil {
            pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        }
        base = pointer!
        memset(base, 0, max(byteCount, 1))
    }

    /// Allocates `byteCount` bytes without clearing them; the caller fills
    /// every byte before the storage is reachable from a tensor.
    init(uninitialized byteCount: Int) {
        self.byteCount = byteCount
        var pointer: UnsafeMutableRawPointer?
        if posix_memalign(&pointer, 64, max(byteCount, 1)) != 0 || pointer == nil {
            pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        }
        base = pointer!
    }

    /// Allocates `byteCount` bytes, filled by `initialize`.
    init(uninitializedByteCount byteCount: Int, _ initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        self.byteCount = byteCount
        var pointer: UnsafeMutableRawPointer?
        if posix_memalign(&pointer, 64, max(byteCount, 1)) != 0 || pointer == nil {
            pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        }
        base = pointer!
        do {
            try initialize(UnsafeMutableRawBufferPointer(start: base, count: byteCount))
        } catch {
            free(base)
            throw error
        }
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: byteCount) }
    var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: byteCount) }

    func copy() -> TensorStorage {
        TensorStorage(uninitializedByteCount: byteCount) { $0.copyMemory(from: bytes) }
    }

    deinit { free(base) }
}
