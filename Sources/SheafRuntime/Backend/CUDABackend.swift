import Dispatch
import Sheaf

/// One NVIDIA GPU: cuBLAS for products, the PTX kernels of ``Kernels`` for
/// elementwise work. Operations it lacks throw ``RuntimeError`` (`unsupported`).
struct CUDABackend: Backend {
    let cuda: CUDA
    let index: Int

    var device: Device { .cuda(index) }

    /// The backend for `device`, with a clear error when the GPU or the libraries are missing.
    static func require(_ device: Device) throws -> CUDABackend {
        guard case .cuda(let index) = device else { throw RuntimeError(.invalidArgument, "not a CUDA device") }
        switch CUDA.load() {
        case .failure(let error):
            throw RuntimeError(.deviceUnavailable, "\(device) is not available: \(error.description)")
        case .success(let cuda):
            guard index < cuda.deviceCount else {
                throw RuntimeError(.deviceUnavailable, "\(device) is not available: this machine has \(cuda.deviceCount) GPU(s)")
            }
            return CUDABackend(cuda: cuda, index: index)
        }
    }

    /// Runs CUDA work with this device current, turning CUDA errors into runtime errors.
    func run<R>(_ body: (CUDA.DeviceState) throws(CUDAError) -> R) throws -> R {
        do { return try cuda.with(device: index) { state throws(CUDAError) in try body(state) } } catch { throw RuntimeError.cuda(error) }
    }

    /// The device address of an operand (operands were checked to be on this device).
    func address(_ x: NDArray) throws -> UInt64 {
        guard case .cuda(let buffer, _, _) = x.storage, buffer.device == index else {
            throw RuntimeError(.deviceMismatch, "a \(device) operation was given a \(x.device) array")
        }
        return buffer.address
    }

    /// A new uninitialised array on this device.
    func allocate(_ shape: [Int], _ dtype: DType) throws -> (NDArray, UInt64) {
        do {
            let buffer = try CUDABuffer(cuda: cuda, device: index, byteCount: try Shape.byteCount(shape, dtype))
            return (NDArray(storage: .cuda(buffer, shape: shape, dtype: dtype)), buffer.address)
        } catch let error as CUDAError { throw RuntimeError.cuda(error) }
    }

    func upload(_ tensor: Tensor) throws -> NDArray {
        guard tensor.dtype == .float32 || tensor.dtype == .bool else {
            throw RuntimeError(.dtypeUnsupported, "\(tensor.dtype) arrays stay on the CPU; convert to float32 to use \(device)")
        }
        let (array, target) = try allocate(tensor.shape, tensor.dtype)
        try tensor.withUnsafeBytes { bytes in
            try run { state throws(CUDAError) in
                if bytes.count > 0 {
                    try cuda.check(cuda.cuMemcpyHtoDAsync(target, bytes.baseAddress, bytes.count, state.stream), "cuMemcpyHtoDAsync_v2")
                }
            }
        }
        return array
    }

    static func download(_ buffer: CUDABuffer, shape: [Int], dtype: DType) throws -> Tensor {
        var tensor = try Tensor(zeros: shape, dtype: dtype)
        try tensor.withUnsafeMutableBytes { bytes in
            try CUDABackend(cuda: buffer.cuda, index: buffer.device).run { state throws(CUDAError) in
                if bytes.count > 0 {
                    try buffer.cuda.check(buffer.cuda.cuMemcpyDtoHAsync(bytes.baseAddress, buffer.address, bytes.count, state.stream),
                                          "cuMemcpyDtoHAsync_v2")
                }
                try buffer.cuda.check(buffer.cuda.cuStreamSynchronize(state.stream), "cuStreamSynchronize")
            }
        }
        return tensor
    }

    func synchronize() throws {
        try run { state throws(CUDAError) in try cuda.check(cuda.cuStreamSynchronize(state.stream), "cuStreamSynchronize") }
    }

    // MARK: Elementwise

    static func kernel(_ op: BinaryOperation) -> String {
        switch op {
        case .add: "add_f32"
        case .subtract: "sub_f32"
        case .multiply: "mul_f32"
        case .divide: "div_f32"
        }
    }

    /// (div, mod) so that element i of the output reads element (i / div) % mod
    /// of `shape`, when that describes the broadcast.
    static func indexing(_ shape: [Int], to output: [Int]) -> (UInt64, UInt64)? {
        let count = shape.reduce(1, *)
        let total = output.reduce(1, *)
        if count == total { return (1, UInt64(max(count, 1))) }
        if count == 1 { return (1, 1) }
        let aligned = [Int](repeating: 1, count: output.count - shape.count) + shape
        let kept = aligned.indices.filter { aligned[$0] != 1 }
        guard let low = kept.first, let high = kept.last,
              (low...high).allSatisfy({ aligned[$0] == output[$0] }) else { return nil }
        let div = output[(high + 1)...].reduce(1, *)
        let mod = output[low...high].reduce(1, *)
        return (UInt64(div), UInt64(mod))
    }

    private func elementwise(_ name: String, _ a: NDArray, _ b: NDArray, shape: [Int], dtype: DType) throws -> NDArray {
        guard let ia = Self.indexing(a.shape, to: shape), let ib = Self.indexing(b.shape, to: shape) else {
            throw RuntimeError(.shapeMismatch, "\(name) of \(a.shape) and \(b.shape) broadcasts in a pattern the CUDA kernels do not cover; reshape so the broadcast dimensions are leading or trailing")
        }
        let (out, target) = try allocate(shape, dtype)
        let (x, y) = (try address(a), try address(b))
        let count = out.count
        try run { state throws(CUDAError) in
            try cuda.launch(state, name, count: count, [target, x, y, UInt64(count), ia.0, ia.1, ib.0, ib.1] as [Any])
        }
        return out
    }

    func binary(_ op: BinaryOperation, _ a: NDArray, _ b: NDArray, shape: [Int]) throws -> NDArray {
        try elementwise(Self.kernel(op), a, b, shape: shape, dtype: a.dtype)
    }

    func equal(_ a: NDArray, _ b: NDArray, shape: [Int]) throws -> NDArray {
        try elementwise("eq_f32", a, b, shape: shape, dtype: .bool)
    }

    func unary(_ op: UnaryOperation, _ x: NDArray) throws -> NDArray {
        guard op == .relu else { throw unsupported("\(op)") }
        let (out, target) = try allocate(x.shape, x.dtype)
        let source = try address(x), count = x.count
        try run { state throws(CUDAError) in
            try cuda.launch(state, "relu_f32", count: count, [target, source, UInt64(count)] as [Any])
        }
        return out
    }

    // MARK: Reductions

    func reduce(_ x: NDArray, outer: Int, length: Int, inner: Int, outShape: [Int], scale: Double) throws -> NDArray {
        guard inner == 1 || outer == 1 else {
            throw RuntimeError(.shapeMismatch, "reducing a middle axis of \(x.shape) on \(device) is not supported; reshape to 2-d first")
        }
        let (out, target) = try allocate(outShape, x.dtype)
        let (ones, onesAddress) = try allocate([max(length, 1)], .float32)
        let source = try address(x)
        try run { state throws(CUDAError) in
            try cuda.launch(state, "fill_f32", count: length, [onesAddress, Float(1), UInt64(length)] as [Any])
            var alpha = Float(scale), beta = Float(0)
            // Row-major [outer, length] (inner == 1) is column-major [length, outer]: y = Aᵀ·1.
            // Row-major [length, inner] (outer == 1) is column-major [inner, length]: y = A·1.
            let code = inner == 1
                ? cuda.cublasSgemv(state.blas, 1, Int32(length), Int32(outer), &alpha, source, Int32(max(length, 1)), onesAddress, 1, &beta, target, 1)
                : cuda.cublasSgemv(state.blas, 0, Int32(inner), Int32(length), &alpha, source, Int32(inner), onesAddress, 1, &beta, target, 1)
            try cuda.checkBlas(code, "cublasSgemv_v2")
        }
        withExtendedLifetime(ones) {}
        return out
    }

    // MARK: Products

    func gemm(_ a: NDArray, _ b: NDArray, batch: Int, m: Int, n: Int, k: Int, aStride: Int, bStride: Int,
              transposeB: Bool, outShape: [Int]) throws -> NDArray {
        let (out, target) = try allocate(outShape, a.dtype)
        let (pa, pb) = (try address(a), try address(b))
        try run { state throws(CUDAError) in
            guard m > 0, n > 0, batch > 0 else { return }
            if k == 0 {
                try cuda.launch(state, "fill_f32", count: batch * m * n, [target, Float(0), UInt64(batch * m * n)] as [Any])
                return
            }
            var alpha: Float = 1, beta: Float = 0
            for i in 0..<batch {
                // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ.
                try cuda.checkBlas(cuda.cublasSgemm(state.blas, transposeB ? 1 : 0, 0, Int32(n), Int32(m), Int32(k), &alpha,
                                                    pb + UInt64(i * bStride * 4), Int32(transposeB ? k : n),
                                                    pa + UInt64(i * aStride * 4), Int32(k),
                                                    &beta, target + UInt64(i * m * n * 4), Int32(n)), "cublasSgemm_v2")
            }
        }
        return out
    }

    func linear(_ x: NDArray, weight: NDArray, bias: NDArray?, layout: WeightLayout, rows: Int, outShape: [Int]) throws -> NDArray {
        let (input, output) = layout == .outIn ? (weight.shape[1], weight.shape[0]) : (weight.shape[0], weight.shape[1])
        let (out, target) = try allocate(outShape, x.dtype)
        let (px, pw) = (try address(x), try address(weight))
        let pb = try bias.map { try address($0) }
        try run { state throws(CUDAError) in
            guard rows > 0, output > 0 else { return }
            var alpha: Float = 1, beta: Float = 0
            // Y = X·Wᵀ: column-major Yᵀ[out, rows] = W[out, in]·Xᵀ[in, rows] (W read transposed when stored [out, in]).
            try cuda.checkBlas(cuda.cublasSgemm(state.blas, layout == .outIn ? 1 : 0, 0, Int32(output), Int32(rows), Int32(input), &alpha,
                                                pw, Int32(layout == .outIn ? input : output), px, Int32(input),
                                                &beta, target, Int32(output)), "cublasSgemm_v2")
            if let pb {
                try cuda.launch(state, "add_f32", count: rows * output,
                                [target, target, pb, UInt64(rows * output), UInt64(1), UInt64(rows * output), UInt64(1), UInt64(output)] as [Any])
            }
        }
        return out
    }

    /// Times `count` launches of cuBLAS SGEMM alone for row-major `[m, k] · [k, n]`, in ms per call.
    func referenceSGEMMMilliseconds(m: Int, n: Int, k: Int, count: Int) throws -> Double {
        let (a, pa) = try allocate([m, k], .float32), (b, pb) = try allocate([k, n], .float32), (c, pc) = try allocate([m, n], .float32)
        func once() throws {
            try run { state throws(CUDAError) in
                var alpha: Float = 1, beta: Float = 0
                for _ in 0..<count {
                    try cuda.checkBlas(cuda.cublasSgemm(state.blas, 0, 0, Int32(n), Int32(m), Int32(k), &alpha, pb, Int32(n), pa, Int32(k),
                                                        &beta, pc, Int32(n)), "cublasSgemm_v2")
                }
                try cuda.check(cuda.cuStreamSynchronize(state.stream), "cuStreamSynchronize")
            }
        }
        try once()
        let start = DispatchTime.now().uptimeNanoseconds
        try once()
        withExtendedLifetime((a, b, c)) {}
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(count)
    }
}

extension NDArray {
    /// Times `count` launches of cuBLAS SGEMM alone for row-major `[m, k] · [k, n]`
    /// on `device` (the reference the runtime's GEMM is compared with), in ms per call.
    package static func referenceSGEMMMilliseconds(m: Int, n: Int, k: Int, count: Int, on device: Device) throws -> Double {
        try CUDABackend.require(device).referenceSGEMMMilliseconds(m: m, n: n, k: k, count: count)
    }
}
