import Sheaf

/// A tensor on a ``Device``, for computation: float32 (float64 on the CPU for
/// the basic operations), and bool results of comparisons.
///
/// `NDArray` is an immutable reference, like a PyTorch tensor that is never
/// changed in place: operations return new arrays, and `x.to(x.device)` returns
/// `x` itself (`x.to(x.device) === x`). Being immutable, it is `Sendable`.
/// Arrays on different devices never mix: an operation on two devices throws
/// an error naming both. Reading values to the host (``tensor()``,
/// ``scalars(as:)``, printing) copies back and is the only synchronisation point.
///
/// The shape and dtype live in one place, the storage: a host array *is* its
/// ``Tensor`` (so `reshaped(_:)`, `tensor()` and a saved state dict always agree).
public final class NDArray: Sendable, CustomStringConvertible {
    enum Storage: Sendable {
        /// Host memory: the tensor holds the shape, dtype and bytes.
        case host(Tensor)
        /// Device memory, with the shape and dtype it holds.
        case cuda(CUDABuffer, shape: [Int], dtype: DType)
    }

    let storage: Storage

    init(storage: Storage) { self.storage = storage }

    /// The runtime reuses freed buffers across operations: turned on once, when
    /// the first array is made.
    private static let reusesBuffers: Void = BufferPool.enable()

    /// The host tensor's values on the CPU (no copy).
    public init(_ tensor: Tensor) {
        _ = Self.reusesBuffers
        storage = .host(tensor)
    }

    /// A host tensor's values on `device`.
    public convenience init(_ tensor: Tensor, on device: Device) throws {
        let moved = try NDArray(tensor).to(device)
        self.init(storage: moved.storage)
    }

    /// A float32 array of `shape` from `scalars` in C order.
    public convenience init(shape: [Int], scalars: [Float], on device: Device = .cpu) throws {
        try self.init(try Tensor(shape: shape, scalars: scalars), on: device)
    }

    /// The extent of each dimension.
    public var shape: [Int] {
        switch storage {
        case .host(let tensor): tensor.shape
        case .cuda(_, let shape, _): shape
        }
    }

    /// The element type.
    public var dtype: DType {
        switch storage {
        case .host(let tensor): tensor.dtype
        case .cuda(_, _, let dtype): dtype
        }
    }

    /// Where the values live.
    public var device: Device {
        switch storage {
        case .host: .cpu
        case .cuda(let buffer, _, _): .cuda(buffer.device)
        }
    }

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The implementation of this array's device.
    var backend: any Backend {
        switch storage {
        case .host: CPUBackend()
        case .cuda(let buffer, _, _): CUDABackend(cuda: buffer.cuda, index: buffer.device)
        }
    }

    /// Copies the values to a host ``Tensor`` (waits for pending GPU work); a
    /// CPU array returns its tensor without copying.
    public func tensor() throws -> Tensor {
        switch storage {
        case .host(let tensor): return tensor
        case .cuda(let buffer, let shape, let dtype): return try CUDABackend.download(buffer, shape: shape, dtype: dtype)
        }
    }

    /// Waits until every queued GPU operation on this array's device has finished
    /// (nothing to do on the CPU). For timing; reading values waits by itself.
    public func synchronize() throws {
        guard case .cuda(let buffer, _, _) = storage else { return }
        try CUDABackend(cuda: buffer.cuda, index: buffer.device).synchronize()
    }

    /// The values as Swift scalars (copies to the host).
    public func scalars<T: TensorScalar>(as type: T.Type) throws -> [T] { try tensor().scalars(as: type) }

    /// This array on `device`: itself when already there, else a copy.
    public func to(_ target: Device) throws -> NDArray {
        if target == device { return self }
        switch (storage, target) {
        case (.host(let tensor), .cuda):
            return try CUDABackend.require(target).upload(tensor)
        case (.cuda, .cpu):
            return NDArray(try tensor())
        case (.cuda, .cuda):
            // Between GPUs through the host: simple and explicit.
            return try NDArray(try tensor(), on: target)
        case (.host, .cpu):
            return self
        }
    }

    /// The same values with another shape of the same element count (no copy).
    /// One dimension may be `-1`, inferred from the others.
    public func reshaped(_ newShape: [Int]) throws -> NDArray {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.reduce(1) { $0 * $1.element }
            guard known > 0, count % known == 0, newShape.filter({ $0 == -1 }).count == 1 else {
                throw RuntimeError(.shapeMismatch, "cannot reshape \(shape) to \(newShape)")
            }
            resolved[inferred] = count / known
        }
        guard resolved.allSatisfy({ $0 >= 0 }), resolved.reduce(1, *) == count else {
            throw RuntimeError(.shapeMismatch, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        }
        switch storage {
        case .host(let tensor):
            do { return NDArray(try tensor.reshaped(resolved)) } catch { throw RuntimeError(.shapeMismatch, error.description) }
        case .cuda(let buffer, _, let dtype):
            return NDArray(storage: .cuda(buffer, shape: resolved, dtype: dtype))
        }
    }

    public var description: String {
        guard let host = try? tensor() else { return "tensor(<unreadable>, device='\(device)')" }
        var text = host.description
        if device != .cpu {
            text.removeLast()
            text += ", device='\(device)')"
        }
        return text
    }
}
