import Glibc
import Synchronization

/// Recently freed large buffers, kept for reuse by size so a steady loop of
/// operations (a model's forward pass) stops asking the system for memory and
/// paying its page faults. Holds at most ``limit`` bytes.
///
/// Off unless a program turns it on with ``enable()`` (the runtime does, when
/// it first computes): a program that only loads and saves files keeps no
/// freed memory.
package enum BufferPool {
    static let threshold = 1 << 16
    static let limit = 256 << 20
    private static let enabled = Atomic<Bool>(false)
    /// Addresses as integers, so the pool holds only Sendable values.
    private static let state = Mutex<(buffers: [Int: [UInt]], bytes: Int)>(([:], 0))

    /// Turns reuse on for the rest of the process.
    package static func enable() { enabled.store(true, ordering: .relaxed) }

    static func take(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        guard byteCount >= threshold, enabled.load(ordering: .relaxed) else { return nil }
        let address: UInt? = state.withLock { state in
            guard let address = state.buffers[byteCount]?.popLast() else { return nil }
            state.bytes -= byteCount
            return address
        }
        return address.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
    }

    /// Keeps `pointer` for reuse, or returns false when the pool is full.
    static func give(_ pointer: UnsafeMutableRawPointer, _ byteCount: Int) -> Bool {
        guard byteCount >= threshold, enabled.load(ordering: .relaxed) else { return false }
        let address = UInt(bitPattern: pointer)
        return state.withLock { state in
            guard state.bytes + byteCount <= limit, state.buffers[byteCount, default: []].count < 8 else { return false }
            state.buffers[byteCount, default: []].append(address)
            state.bytes += byteCount
            return true
        }
    }
}

@inline(__always)
private func allocateAligned(_ byteCount: Int) -> UnsafeMutableRawPointer {
    if let reused = BufferPool.take(byteCount) { return reused }
    var pointer: UnsafeMutableRawPointer?
    if posix_memalign(&pointer, 64, max(byteCount, 1)) != 0 || pointer == nil {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    }
    return pointer!
}

/// The bytes behind one or more ``Tensor`` values.
///
/// Storage is allocated 64-byte aligned and is never resized. Tensors share a
/// storage until one of them is mutated (copy on write), and two keys of a
/// ``StateDict`` that share a storage are written once (tied tensors).
///
/// `@unchecked Sendable`: the bytes behind `base` are written only while the
/// storage is being filled (before any tensor holds it) or through a tensor that
/// holds the only reference (`Tensor`'s copy on write checks
/// `isKnownUniquelyReferenced` first); once shared, the bytes are only read.
package final class TensorStorage: @unchecked Sendable {
    /// The storage's size in bytes.
    package let byteCount: Int
    let base: UnsafeMutableRawPointer
    /// What keeps `base` valid when it points into a file mapping (nil: `base` is ours to free).
    let owner: FileMapping?

    /// Allocates `byteCount` zeroed bytes. Large ones are fresh anonymous pages,
    /// zero without being written: a model built with zeros and then loaded
    /// never touches them (before, building a 0.17B-parameter model wrote 680 MB
    /// of zeros that its load replaced).
    init(byteCount: Int) {
        self.byteCount = byteCount
        if byteCount >= FileMapping.anonymousThreshold, let zeros = FileMapping(anonymous: byteCount) {
            owner = zeros
            base = zeros.base
            return
        }
        owner = nil
        base = allocateAligned(byteCount)
        memset(base, 0, max(byteCount, 1))
    }

    /// Allocates `byteCount` bytes without clearing them; the caller fills
    /// every byte before the storage is reachable from a tensor.
    init(uninitialized byteCount: Int) {
        self.byteCount = byteCount
        owner = nil
        base = allocateAligned(byteCount)
    }

    /// Allocates `byteCount` bytes, filled by `initialize`.
    init(uninitializedByteCount byteCount: Int, _ initialize: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        self.byteCount = byteCount
        owner = nil
        base = allocateAligned(byteCount)
        do {
            try initialize(UnsafeMutableRawBufferPointer(start: base, count: byteCount))
        } catch {
            if !BufferPool.give(base, byteCount) { free(base) }
            throw error
        }
    }

    /// `byteCount` bytes at `offset` of a read-only file mapping; a tensor that is
    /// changed gets its own copy first.
    init(mapping: FileMapping, offset: Int, byteCount: Int) {
        self.byteCount = byteCount
        base = mapping.base + offset
        owner = mapping
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: byteCount) }
    var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: byteCount) }

    func copy() -> TensorStorage {
        TensorStorage(uninitializedByteCount: byteCount) { $0.copyMemory(from: bytes) }
    }

    deinit {
        if owner == nil && !BufferPool.give(base, byteCount) { free(base) }
    }
}

/// A whole file mapped read-only (the tensors share the page cache's pages),
/// or fresh zeroed anonymous memory that one storage owns.
/// `@unchecked Sendable`: a file mapping is `PROT_READ` and never written; an
/// anonymous one is written only as ``TensorStorage`` allows its own bytes to
/// be; each is unmapped only when its last owner goes.
final class FileMapping: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let size: Int
    /// Whether the memory may be written in place (anonymous memory owned by
    /// one storage); a file mapping is copied before a tensor changes it.
    let writable: Bool

    /// Zeroed storages at least this large are anonymous mappings.
    static let anonymousThreshold = 1 << 20

    /// `size` bytes of zeroed anonymous memory (pages are allocated when first touched).
    init?(anonymous size: Int) {
        guard size > 0 else { return nil }
        let pointer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let pointer, pointer != MAP_FAILED else { return nil }
        base = pointer
        self.size = size
        writable = true
    }

    /// - Parameter populate: read every page in at once (for whole loads);
    ///   `false` maps without reading, for reads of a few parts.
    init?(descriptor: Int32, size: Int, populate: Bool = true) {
        guard size > 0 else { return nil }
        // Read-only: a tensor that is changed is copied first (Tensor.withUnsafeMutableBytes).
        let pointer = mmap(nil, size, PROT_READ, populate ? Platform.prefaultedMapping : MAP_PRIVATE, descriptor, 0)
        guard let pointer, pointer != MAP_FAILED else { return nil }
        base = pointer
        self.size = size
        writable = false
    }

    deinit { munmap(base, size) }
}
