import Sheaf

extension NDArray {
    /// The matrix product, like `torch.matmul`: 1-d operands are a row or column
    /// vector whose dimension is removed; arrays of rank 3 or more are batches of
    /// matrices, broadcast over their leading dimensions when one has them all
    /// as 1 (or lacks them). CPU: OpenBLAS `sgemm`/`dgemm`; GPU: cuBLAS `Sgemm`.
    /// - Complexity: O(batch·m·n·k).
    public func matmul(_ other: NDArray) throws -> NDArray {
        try sameDevice(other, "matmul")
        try requireFloat("matmul")
        guard dtype == other.dtype else { throw RuntimeError(.dtypeUnsupported, "matmul: dtypes differ (\(dtype) and \(other.dtype))") }
        guard rank >= 1, other.rank >= 1 else {
            throw RuntimeError(.shapeMismatch, "matmul needs arrays of rank 1 or more, found \(shape) and \(other.shape)")
        }
        let a = rank == 1 ? [1, shape[0]] : shape
        let b = other.rank == 1 ? [other.shape[0], 1] : other.shape
        let (m, k) = (a[a.count - 2], a[a.count - 1])
        let (k2, n) = (b[b.count - 2], b[b.count - 1])
        guard k == k2 else {
            throw RuntimeError(.shapeMismatch, "matmul: shapes \(shape) and \(other.shape) cannot be multiplied (\(m)x\(k) and \(k2)x\(n))")
        }
        let aBatch = Array(a.dropLast(2)), bBatch = Array(b.dropLast(2))
        let batchShape = try NDArray.broadcastShape(aBatch, bBatch)
        let batch = batchShape.reduce(1, *)
        let aCount = aBatch.reduce(1, *), bCount = bBatch.reduce(1, *)
        guard (aCount == batch || aCount == 1) && (bCount == batch || bCount == 1) else {
            throw RuntimeError(.shapeMismatch, "matmul of \(shape) and \(other.shape): batch dimensions broadcast only when one side's are all 1")
        }
        var outShape = batchShape + [m, n]
        if rank == 1 { outShape.remove(at: outShape.count - 2) }
        if other.rank == 1 { outShape.removeLast() }
        return try backend.gemm(self, other, batch: batch, m: m, n: n, k: k,
                                aStride: aCount == 1 ? 0 : m * k, bStride: bCount == 1 ? 0 : k * n,
                                transposeB: false, outShape: outShape)
    }

    /// `x · weightᵀ + bias` over the last axis of x for weight `[out, in]` and
    /// bias `[out]`: PyTorch's `nn.Linear`, one GEMM for all leading dimensions
    /// (a matrix-vector product for one row), the bias folded in on the CPU.
    /// - Complexity: O(rows·in·out).
    public static func linear(_ x: NDArray, weight: NDArray, bias: NDArray?) throws -> NDArray {
        try linear(x, weight: weight, bias: bias, layout: .outIn)
    }

    /// `x · weight + bias` for weight `[in, out]`: transformers' `Conv1D` (GPT-2).
    public static func affine(_ x: NDArray, weight: NDArray, bias: NDArray?) throws -> NDArray {
        try linear(x, weight: weight, bias: bias, layout: .inOut)
    }

    static func linear(_ x: NDArray, weight: NDArray, bias: NDArray?, layout: WeightLayout) throws -> NDArray {
        try x.sameDevice(weight, "linear")
        try x.requireFloat("linear")
        let name = layout == .outIn ? "linear" : "affine"
        guard weight.rank == 2, x.rank >= 1, x.dtype == weight.dtype else {
            throw RuntimeError(.shapeMismatch, "\(name): input \(x.dtype) \(x.shape) does not fit weight \(weight.dtype) \(weight.shape)")
        }
        let (input, output) = layout == .outIn ? (weight.shape[1], weight.shape[0]) : (weight.shape[0], weight.shape[1])
        guard x.shape.last == input else {
            throw RuntimeError(.shapeMismatch, "\(name): input \(x.shape) does not fit weight \(weight.shape) (expected [..., \(input)])")
        }
        try x.checkVector(bias, output, "bias", name)
        let rows = x.count / max(input, 1)
        let outShape = Array(x.shape.dropLast()) + [output]
        return try x.backend.linear(x, weight: weight, bias: bias, layout: layout, rows: input == 0 ? x.shape.dropLast().reduce(1, *) : rows,
                                    outShape: outShape)
    }
}

/// The matrix product, like `torch.matmul`.
public func matmul(_ a: NDArray, _ b: NDArray) throws -> NDArray { try a.matmul(b) }
