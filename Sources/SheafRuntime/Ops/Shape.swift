import Sheaf

extension NDArray {
    /// The transpose of a 2-d array.
    public func transposed() throws -> NDArray {
        guard rank == 2 else { throw RuntimeError(.shapeMismatch, "transposed() needs a 2-d array, found shape \(shape)") }
        return try permuted([1, 0])
    }

    /// The axes reordered, like `torch.permute` (a copy in the new order).
    /// - Complexity: O(count).
    public func permuted(_ axes: [Int]) throws -> NDArray {
        let resolved = try axes.map { try resolvedAxis($0, "permute") }
        guard resolved.count == rank, Set(resolved).count == rank else {
            throw RuntimeError(.invalidArgument, "permute of shape \(shape) needs each of the \(rank) axes once, found \(axes)")
        }
        if resolved == Array(0..<rank) { return self }
        let outShape = resolved.map { shape[$0] }
        if device != .cpu {
            // Moving a run of size-1 axes is a reshape on any device.
            let moved = resolved.filter { shape[$0] != 1 }
            if moved == moved.sorted() { return try reshaped(outShape) }
        }
        return try backend.permute(self, axes: resolved, outShape: outShape)
    }

    /// Arrays of equal shapes except along `axis`, joined along it, like `torch.cat`.
    public static func concatenate(_ parts: [NDArray], axis: Int) throws -> NDArray {
        guard let first = parts.first else { throw RuntimeError(.invalidArgument, "concatenate needs at least one array") }
        let a = try first.resolvedAxis(axis, "concatenate")
        var outShape = first.shape
        outShape[a] = 0
        for part in parts {
            try first.sameDevice(part, "concatenate")
            guard part.dtype == first.dtype, part.rank == first.rank,
                  part.shape.enumerated().allSatisfy({ $0.offset == a || $0.element == first.shape[$0.offset] }) else {
                throw RuntimeError(.shapeMismatch, "concatenate along axis \(axis): \(part.dtype) \(part.shape) does not fit \(first.dtype) \(first.shape)")
            }
            outShape[a] += part.shape[a]
        }
        if parts.count == 1 { return first }
        return try first.backend.concat(parts, axis: a, outShape: outShape)
    }

    /// Elements `range` along `axis`, like `x[..., start:end, ...]` (a copy).
    public func slice(axis: Int, _ range: Range<Int>) throws -> NDArray {
        let a = try resolvedAxis(axis, "slice")
        guard range.lowerBound >= 0, range.upperBound <= shape[a] else {
            throw RuntimeError(.shapeMismatch, "slice \(range) is outside axis \(axis) of shape \(shape)")
        }
        if range == 0..<shape[a] { return self }
        var outShape = shape
        outShape[a] = range.count
        return try backend.slice(self, axis: a, range: range, outShape: outShape)
    }

    /// Equal parts of `size` along `axis` (the last one may be shorter), like `torch.split`.
    public func split(_ size: Int, axis: Int) throws -> [NDArray] {
        let a = try resolvedAxis(axis, "split")
        guard size > 0 else { throw RuntimeError(.invalidArgument, "split size must be positive, found \(size)") }
        return try stride(from: 0, to: shape[a], by: size).map { try slice(axis: a, $0..<min(shape[a], $0 + size)) }
    }

    /// The values in another dtype (float32 ⇄ float16, bfloat16, float64, integers), on the CPU.
    public func converted(to target: DType) throws -> NDArray {
        if target == dtype { return self }
        return try backend.convert(self, to: target)
    }
}
