import Glibc

/// A host N-dimensional array: a dtype, a shape, and contiguous C-order storage.
///
/// `Tensor` has value semantics: copies are cheap and share storage until one of
/// them is mutated. Two tensors that share storage are the same tensor to the
/// writer, which stores them once (see ``StateDict``).
public struct Tensor: Sendable {
    /// The element type.
    public private(set) var dtype: DType
    /// The extent of each dimension; `[]` for a 0-d scalar.
    public private(set) var shape: [Int]
    /// Typed metadata written with the tensor.
    public var metadata: Metadata = [:]
    var storage: TensorStorage

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// The number of dimensions.
    public var rank: Int { shape.count }
    /// The size of the data in bytes.
    public var byteCount: Int { storage.byteCount }

    init(dtype: DType, shape: [Int], storage: TensorStorage, metadata: Metadata = [:]) {
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.metadata = metadata
    }

    /// A tensor of `dtype` and `shape` whose bytes are copied from `bytes`
    /// (little-endian element layout, C order).
    /// - Throws: ``SheafError`` when the byte count does not match the shape.
    public init(dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) throws(SheafError) {
        let expected = try Shape.byteCount(shape, dtype)
        guard bytes.count == expected else {
            throw SheafError(.shapeMismatch,
                             "\(dtype) shape \(shape) needs \(expected) bytes, found \(bytes.count)")
        }
        self.init(dtype: dtype, shape: shape,
                  storage: TensorStorage(uninitializedByteCount: expected) { $0.copyMemory(from: bytes) })
    }

    /// A tensor of `dtype` and `shape` whose bytes are copied from `bytes`.
    /// - Throws: ``SheafError`` when the byte count does not match the shape.
    public init(dtype: DType, shape: [Int], byteArray bytes: ArraySlice<UInt8>) throws(SheafError) {
        let expected = try Shape.byteCount(shape, dtype)
        guard bytes.count == expected else {
            throw SheafError(.shapeMismatch, "\(dtype) shape \(shape) needs \(expected) bytes, found \(bytes.count)")
        }
        self.init(dtype: dtype, shape: shape, storage: TensorStorage(uninitializedByteCount: expected) { buffer in
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        })
    }

    /// A tensor of `dtype` and `shape` whose bytes are written by `initialize`.
    public init(dtype: DType, shape: [Int],
                initializingBytesWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        let bytes = try Shape.byteCount(shape, dtype)
        self.init(dtype: dtype, shape: shape, storage: try TensorStorage(uninitializedByteCount: bytes, initialize))
    }

    /// A tensor of `dtype` and `shape` whose every byte `fill` writes (for the
    /// runtime's kernels; the caller knows the shape's byte count is valid).
    package static func filling(dtype: DType, shape: [Int], _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Tensor {
        let bytes = shape.reduce(1, *) * dtype.itemSize
        return Tensor(dtype: dtype, shape: shape, storage: TensorStorage(uninitializedByteCount: bytes, fill))
    }

    /// A tensor with the given shape and elements in C order.
    /// - Throws: ``SheafError`` when `scalars.count` does not match the shape.
    public init<T: TensorScalar>(shape: [Int], scalars: [T]) throws(SheafError) {
        let expected = try Shape.elementCount(shape)
        guard scalars.count == expected else {
            throw SheafError(.shapeMismatch, "shape \(shape) holds \(expected) elements, found \(scalars.count)")
        }
        self.init(scalars)
        self.shape = shape
    }

    /// A 1-d tensor of the given elements.
    public init<T: TensorScalar>(_ scalars: [T]) {
        self.init(dtype: T.dtype, shape: [scalars.count],
                  storage: TensorStorage(uninitializedByteCount: scalars.count * MemoryLayout<T>.stride) { buffer in
                      scalars.withUnsafeBytes { buffer.copyMemory(from: $0) }
                  })
    }

    /// A 0-d tensor holding `value`.
    public init<T: TensorScalar>(scalar value: T) {
        self.init(dtype: T.dtype, shape: [],
                  storage: TensorStorage(uninitializedByteCount: MemoryLayout<T>.stride) {
                      $0.storeBytes(of: value, as: T.self)
                  })
    }

    /// `0, 1, …, n-1` as int64, like `torch.arange(n)`.
    public init(arange n: Int) {
        self.init((0..<Int64(max(n, 0))).map { $0 })
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int], dtype: DType = .float32) throws(SheafError) {
        self.init(dtype: dtype, shape: shape, storage: TensorStorage(byteCount: try Shape.byteCount(shape, dtype)))
    }

    /// A tensor of ones.
    public init(ones shape: [Int], dtype: DType = .float32) throws(SheafError) {
        let one = try Tensor(scalar: 1.0).converted(to: dtype)
        let item = dtype.itemSize
        self.init(dtype: dtype, shape: shape,
                  storage: TensorStorage(byteCount: try Shape.byteCount(shape, dtype)))
        let source = one.storage.bytes
        let target = storage.mutableBytes
        for offset in stride(from: 0, to: target.count, by: item) {
            UnsafeMutableRawBufferPointer(rebasing: target[offset..<(offset + item)]).copyMemory(from: source)
        }
    }

    /// The elements in C order.
    /// - Throws: ``SheafError`` (`dtypeMismatch`) when `T` is not this tensor's dtype.
    public func scalars<T: TensorScalar>(as type: T.Type) throws(SheafError) -> [T] {
        guard T.dtype == dtype else {
            throw SheafError(.dtypeMismatch, "tensor is \(dtype), asked for \(T.dtype) (\(T.self)); convert it with converted(to:) first")
        }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: storage.bytes)
            initialized = count
        }
    }

    /// Calls `body` with the tensor's bytes.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(storage.bytes)
    }

    /// Calls `body` with the tensor's bytes for writing, copying them first if
    /// another tensor shares the storage.
    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) || storage.owner?.writable == false { storage = storage.copy() }
        return try body(storage.mutableBytes)
    }

    /// Whether `other` shares this tensor's storage (a tied tensor).
    public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

    /// A tensor with the same elements and a new shape of the same element count.
    public func reshaped(_ newShape: [Int]) throws(SheafError) -> Tensor {
        guard try Shape.elementCount(newShape) == count else {
            throw SheafError(.shapeMismatch, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        }
        var copy = self
        copy.shape = newShape
        return copy
    }

    /// Whether both tensors have the same dtype, shape and bytes (NaNs compare by bits).
    public func bitwiseEqual(_ other: Tensor) -> Bool {
        dtype == other.dtype && shape == other.shape
            && (storage === other.storage
                || (byteCount == other.byteCount && memcmp(storage.base, other.storage.base, byteCount) == 0))
    }
}

extension Tensor: Equatable {
    /// Equal when dtype, shape, bytes and metadata are equal.
    public static func == (a: Tensor, b: Tensor) -> Bool { a.bitwiseEqual(b) && a.metadata == b.metadata }
}
