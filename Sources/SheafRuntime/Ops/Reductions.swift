import Sheaf

extension NDArray {
    /// The sum of all elements, as a 0-d array on the same device.
    public func sum() throws -> NDArray { try reduce(axis: nil, mean: false) }
    /// The mean of all elements, as a 0-d array on the same device.
    public func mean() throws -> NDArray { try reduce(axis: nil, mean: true) }
    /// The sum along `axis` (negative counts from the end), removing that axis.
    public func sum(axis: Int) throws -> NDArray { try reduce(axis: axis, mean: false) }
    /// The mean along `axis` (negative counts from the end), removing that axis.
    public func mean(axis: Int) throws -> NDArray { try reduce(axis: axis, mean: true) }

    func reduce(axis: Int?, mean: Bool) throws -> NDArray {
        try requireFloat(mean ? "mean" : "sum")
        var outer = 1, length = count, inner = 1
        var outShape: [Int] = []
        if let axis {
            let a = try resolvedAxis(axis, mean ? "mean" : "sum")
            outer = shape[..<a].reduce(1, *)
            length = shape[a]
            inner = shape[(a + 1)...].reduce(1, *)
            outShape = Array(shape[..<a]) + Array(shape[(a + 1)...])
        }
        if mean && length == 0 {
            // Like PyTorch: the mean of nothing is NaN.
            return try NDArray(try Tensor(zeros: outShape, dtype: dtype), on: device) + Double.nan
        }
        let scale = mean ? 1 / Double(length) : 1
        return try backend.reduce(self, outer: outer, length: length, inner: inner, outShape: outShape, scale: scale)
    }

    /// The index of the largest element along the last axis of each row (first on ties),
    /// like `argmax(-1)`; NaN counts as largest, as in PyTorch.
    public func argmax() throws -> [Int] {
        try requireFloat32("argmax")
        let host = try to(.cpu)
        let columns = shape.last ?? 1, rows = count / max(columns, 1)
        guard columns > 0 else { throw RuntimeError(.invalidArgument, "argmax of an empty axis in shape \(shape)") }
        return host.withHost { p in
            (0..<rows).map { row in
                var best = 0
                for i in 1..<max(columns, 1) where p[row * columns + i] > p[row * columns + best] || (p[row * columns + i].isNaN && !p[row * columns + best].isNaN) {
                    best = i
                }
                return best
            }
        }
    }
}
