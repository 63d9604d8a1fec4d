import COpenBLAS
import Sheaf

extension NDArray {
    /// The matrix product `self · other` of 2-d arrays (a 1-d operand is a row
    /// or column vector and its dimension is removed from the result).
    /// CPU: OpenBLAS `sgemm`/`dgemm`; GPU: cuBLAS `Sgemm`.
    /// - Complexity: O(m·n·k).
    public func matmul(_ other: NDArray) throws -> NDArray {
        try sameDevice(other, "matmul")
        try requireFloat("matmul")
        guard dtype == other.dtype else { throw RuntimeError(.dtypeUnsupported, "matmul: dtypes differ (\(dtype) and \(other.dtype))") }
        guard (1...2).contains(rank), (1...2).contains(other.rank) else {
            throw RuntimeError(.shapeMismatch, "matmul needs 1-d or 2-d arrays, found \(shape) and \(other.shape)")
        }
        let a = rank == 1 ? [1, shape[0]] : shape
        let b = other.rank == 1 ? [other.shape[0], 1] : other.shape
        guard a[1] == b[0] else {
            throw RuntimeError(.shapeMismatch, "matmul: shapes \(shape) and \(other.shape) cannot be multiplied (\(a[0])x\(a[1]) and \(b[0])x\(b[1]))")
        }
        let (m, k, n) = (a[0], a[1], b[1])
        var outShape = [m, n]
        if rank == 1 { outShape.removeFirst() }
        if other.rank == 1 { outShape.removeLast() }
        if device != .cpu {
            let out = try newGPU(shape: outShape, dtype: dtype)
            try out.onGPU { cuda, state, _ throws(CUDAError) in
                guard m > 0, n > 0 else { return }
                var alpha: Float = 1, beta: Float = 0
                if k == 0 {
                    try cuda.launch(state, "fill_f32", count: m * n, [out.cudaBuffer!.address, Float(0), UInt64(m * n)] as [Any])
                    return
                }
                // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ.
                try cuda.checkBlas(cuda.cublasSgemm(state.blas, 0, 0, Int32(n), Int32(m), Int32(k), &alpha,
                                                    other.cudaBuffer!.address, Int32(n), self.cudaBuffer!.address, Int32(k),
                                                    &beta, out.cudaBuffer!.address, Int32(n)), "cublasSgemm_v2")
            }
            return out
        }
        guard m > 0, n > 0, k > 0 else { return NDArray(try Tensor(zeros: outShape, dtype: dtype)) }
        let x = hostTensor!, y = other.hostTensor!
        let dtype = dtype
        // GEMM with beta 0 writes every element: no need to clear the output first.
        let result = try Tensor(dtype: dtype, shape: outShape) { c in
            x.withUnsafeBytes { pa in
                y.withUnsafeBytes { pb in
                    if dtype == .float32 {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                                    pa.bindMemory(to: Float.self).baseAddress, Int32(k), pb.bindMemory(to: Float.self).baseAddress, Int32(n),
                                    0, c.bindMemory(to: Float.self).baseAddress, Int32(n))
                    } else {
                        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                                    pa.bindMemory(to: Double.self).baseAddress, Int32(k), pb.bindMemory(to: Double.self).baseAddress, Int32(n),
                                    0, c.bindMemory(to: Double.self).baseAddress, Int32(n))
                    }
                }
            }
        }
        return NDArray(result)
    }

    /// `x · weightᵀ + bias` for x `[batch, in]`, weight `[out, in]`, bias `[out]`:
    /// PyTorch's `nn.Linear`, as one GEMM with the bias folded in on the CPU.
    public static func linear(_ x: NDArray, weight: NDArray, bias: NDArray?) throws -> NDArray {
        try x.sameDevice(weight, "linear")
        if let bias { try x.sameDevice(bias, "linear") }
        try x.requireFloat("linear")
        guard weight.rank == 2, (1...2).contains(x.rank), x.shape.last == weight.shape[1], x.dtype == weight.dtype else {
            throw RuntimeError(.shapeMismatch, "linear: input \(x.shape) does not fit weight \(weight.shape) (expected [..., \(weight.rank == 2 ? weight.shape[1] : 0)])")
        }
        let (batch, input, output) = (x.rank == 1 ? 1 : x.shape[0], weight.shape[1], weight.shape[0])
        if let bias, bias.shape != [output] || bias.dtype != x.dtype {
            throw RuntimeError(.shapeMismatch, "linear: bias shape \(bias.shape) does not fit \(output) outputs")
        }
        let outShape = x.rank == 1 ? [output] : [batch, output]
        if x.device != .cpu {
            let out = try x.newGPU(shape: outShape, dtype: x.dtype)
            try out.onGPU { cuda, state, _ throws(CUDAError) in
                guard batch > 0, output > 0 else { return }
                var alpha: Float = 1, beta: Float = 0
                // Y = X·Wᵀ: column-major Yᵀ[out, batch] = W[out, in]·Xᵀ[in, batch].
                try cuda.checkBlas(cuda.cublasSgemm(state.blas, 1, 0, Int32(output), Int32(batch), Int32(input), &alpha,
                                                    weight.cudaBuffer!.address, Int32(input), x.cudaBuffer!.address, Int32(input),
                                                    &beta, out.cudaBuffer!.address, Int32(output)), "cublasSgemm_v2")
                if let bias {
                    try cuda.launch(state, "add_f32", count: batch * output,
                                    [out.cudaBuffer!.address, out.cudaBuffer!.address, bias.cudaBuffer!.address,
                                     UInt64(batch * output), UInt64(1), UInt64(batch * output), UInt64(1), UInt64(output)] as [Any])
                }
            }
            return out
        }
        guard batch > 0, output > 0, input > 0 else {
            let zeros = try NDArray.zeros(outShape, dtype: x.dtype)
            return try bias.map { try zeros + $0 } ?? zeros
        }
        let item = x.dtype.itemSize
        let beta: Double = bias == nil ? 0 : 1
        let xs = x.hostTensor!, ws = weight.hostTensor!, bs = bias?.hostTensor
        // Every output element is written: by the bias rows (then GEMM adds, beta 1) or by GEMM (beta 0).
        let result = try Tensor(dtype: x.dtype, shape: outShape) { c in
            if let bs {
                bs.withUnsafeBytes { b in
                    for row in 0..<batch { (c.baseAddress! + row * output * item).copyMemory(from: b.baseAddress!, byteCount: output * item) }
                }
            }
            xs.withUnsafeBytes { pa in
                ws.withUnsafeBytes { pb in
                    if x.dtype == .float32 {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(output), Int32(input), 1,
                                    pa.bindMemory(to: Float.self).baseAddress, Int32(input), pb.bindMemory(to: Float.self).baseAddress, Int32(input),
                                    Float(beta), c.bindMemory(to: Float.self).baseAddress, Int32(output))
                    } else {
                        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(output), Int32(input), 1,
                                    pa.bindMemory(to: Double.self).baseAddress, Int32(input), pb.bindMemory(to: Double.self).baseAddress, Int32(input),
                                    beta, c.bindMemory(to: Double.self).baseAddress, Int32(output))
                    }
                }
            }
        }
        return NDArray(result)
    }
}

/// max(x, 0) elementwise, like `F.relu`.
public func relu(_ x: NDArray) throws -> NDArray { try x.relu() }

/// The matrix product, like `torch.matmul`.
public func matmul(_ a: NDArray, _ b: NDArray) throws -> NDArray { try a.matmul(b) }
