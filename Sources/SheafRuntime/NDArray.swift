import Dispatch
import Sheaf

/// A tensor on a ``Device``, for computation: float32 (float64 on CPU), and
/// bool results of comparisons.
///
/// `NDArray` is a reference, like a PyTorch tensor: operations return new
/// arrays, and `x.to(x.device)` returns `x` itself (`x.to(x.device) === x`).
/// Arrays on different devices never mix: an operation on two devices throws
/// an error naming both. Reading values to the host (``tensor()``,
/// ``scalars(as:)``, printing) copies back and is the only synchronisation point.
public final class NDArray: @unchecked Sendable, CustomStringConvertible {
    enum Storage {
        case host(Tensor)
        case cuda(CUDABuffer)
    }

    public let shape: [Int]
    public let dtype: DType
    public let device: Device
    let storage: Storage

    init(shape: [Int], dtype: DType, device: Device, storage: Storage) {
        self.shape = shape
        self.dtype = dtype
        self.device = device
        self.storage = storage
    }

    /// The runtime reuses freed buffers across operations: turned on once, when
    /// the first array is made.
    private static let reusesBuffers: Void = BufferPool.enable()

    /// The host tensor's values on the CPU (no copy).
    public init(_ tensor: Tensor) {
        _ = Self.reusesBuffers
        shape = tensor.shape
        dtype = tensor.dtype
        device = .cpu
        storage = .host(tensor)
    }

    /// A host tensor's values on `device`.
    public convenience init(_ tensor: Tensor, on device: Device) throws {
        let host = NDArray(tensor)
        let moved = try host.to(device)
        self.init(shape: moved.shape, dtype: moved.dtype, device: moved.device, storage: moved.storage)
    }

    /// A float32 array of `shape` from `scalars` in C order.
    public convenience init(shape: [Int], scalars: [Float], on device: Device = .cpu) throws {
        try self.init(try Tensor(shape: shape, scalars: scalars), on: device)
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }

    /// Copies the values to a host ``Tensor`` (waits for pending GPU work).
    public func tensor() throws -> Tensor {
        switch storage {
        case .host(let tensor): return tensor
        case .cuda(let buffer):
            var tensor = try Tensor(zeros: shape, dtype: dtype)
            try tensor.withUnsafeMutableBytes { bytes in
                try buffer.cuda.with(device: buffer.device) { state throws(CUDAError) in
                    if bytes.count > 0 {
                        try buffer.cuda.check(buffer.cuda.cuMemcpyDtoHAsync(bytes.baseAddress, buffer.address, bytes.count, state.stream),
                                              "cuMemcpyDtoHAsync_v2")
                    }
                    try buffer.cuda.check(buffer.cuda.cuStreamSynchronize(state.stream), "cuStreamSynchronize")
                }
            }
            return tensor
        }
    }

    /// Waits until every queued GPU operation on this array's device has finished
    /// (nothing to do on the CPU). For timing; reading values waits by itself.
    public func synchronize() throws {
        guard let buffer = cudaBuffer else { return }
        do {
            try buffer.cuda.with(device: buffer.device) { state throws(CUDAError) in
                try buffer.cuda.check(buffer.cuda.cuStreamSynchronize(state.stream), "cuStreamSynchronize")
            }
        } catch { throw RuntimeError.cuda(error) }
    }

    /// Times `count` launches of cuBLAS SGEMM alone for row-major `[m, k] · [k, n]`
    /// on `device` (the reference the runtime's GEMM is compared with), in ms per call.
    package static func referenceSGEMMMilliseconds(m: Int, n: Int, k: Int, count: Int, on device: Device) throws -> Double {
        let a = try NDArray.zeros([m, k], on: device), b = try NDArray.zeros([k, n], on: device)
        let c = try NDArray.zeros([m, n], on: device)
        func run() throws {
            try c.onGPU { cuda, state, _ throws(CUDAError) in
                var alpha: Float = 1, beta: Float = 0
                for _ in 0..<count {
                    try cuda.checkBlas(cuda.cublasSgemm(state.blas, 0, 0, Int32(n), Int32(m), Int32(k), &alpha,
                                                        b.cudaBuffer!.address, Int32(n), a.cudaBuffer!.address, Int32(k),
                                                        &beta, c.cudaBuffer!.address, Int32(n)), "cublasSgemm_v2")
                }
                try cuda.check(cuda.cuStreamSynchronize(state.stream), "cuStreamSynchronize")
            }
        }
        try run()
        let start = DispatchTime.now().uptimeNanoseconds
        try run()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(count)
    }

    /// The values as Swift scalars (copies to the host).
    public func scalars<T: TensorScalar>(as type: T.Type) throws -> [T] { try tensor().scalars(as: type) }

    /// This array on `device`: itself when already there, else a copy.
    public func to(_ target: Device) throws -> NDArray {
        if target == device { return self }
        switch (storage, target) {
        case (.host(let tensor), .cuda(let index)):
            guard dtype == .float32 || dtype == .bool else {
                throw RuntimeError(.dtypeUnsupported, "\(dtype) arrays stay on the CPU; convert to float32 to use \(target)")
            }
            let cuda = try CUDABackend.require(target)
            do {
                let buffer = try CUDABuffer(cuda: cuda, device: index, byteCount: tensor.byteCount)
                try tensor.withUnsafeBytes { bytes in
                    try cuda.with(device: index) { state throws(CUDAError) in
                        if bytes.count > 0 {
                            try cuda.check(cuda.cuMemcpyHtoDAsync(buffer.address, bytes.baseAddress, bytes.count, state.stream), "cuMemcpyHtoDAsync_v2")
                        }
                    }
                }
                return NDArray(shape: shape, dtype: dtype, device: target, storage: .cuda(buffer))
            } catch let error as CUDAError { throw RuntimeError.cuda(error) }
        case (.cuda, .cpu):
            return NDArray(try tensor())
        case (.cuda, .cuda):
            // Between GPUs through the host: simple and explicit.
            return try NDArray(try tensor(), on: target)
        default:
            return self
        }
    }

    /// The same values with another shape of the same element count (no copy).
    public func reshaped(_ newShape: [Int]) throws -> NDArray {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.reduce(1) { $0 * $1.element }
            guard known > 0, count % known == 0 else {
                throw RuntimeError(.shapeMismatch, "cannot reshape \(shape) to \(newShape)")
            }
            resolved[inferred] = count / known
        }
        guard resolved.allSatisfy({ $0 >= 0 }), resolved.reduce(1, *) == count else {
            throw RuntimeError(.shapeMismatch, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        }
        return NDArray(shape: resolved, dtype: dtype, device: device, storage: storage)
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

/// Looks up the CUDA backend for a device, with a clear error when it is missing.
enum CUDABackend {
    static func require(_ device: Device) throws -> CUDA {
        guard case .cuda(let index) = device else { throw RuntimeError(.invalidArgument, "not a CUDA device") }
        switch CUDA.load() {
        case .failure(let error):
            throw RuntimeError(.deviceUnavailable, "\(device) is not available: \(error.description)")
        case .success(let cuda):
            guard index < cuda.deviceCount else {
                throw RuntimeError(.deviceUnavailable, "\(device) is not available: this machine has \(cuda.deviceCount) GPU(s)")
            }
            return cuda
        }
    }
}
