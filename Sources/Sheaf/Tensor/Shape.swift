/// Shape arithmetic with overflow checks, shared by every reader.
public enum Shape {
    /// The largest rank Sheaf accepts (HDF5's own limit).
    public static let maxRank = 32

    /// The number of elements in `shape`, or an error when a dimension is
    /// negative, the rank is over ``maxRank``, or the product overflows.
    public static func elementCount(_ shape: some Collection<Int>) throws(SheafError) -> Int {
        guard shape.count <= maxRank else {
            throw SheafError(.limitExceeded, "rank \(shape.count) is over the limit of \(maxRank)")
        }
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else {
                throw SheafError(.shapeMismatch, "shape \(Array(shape)) has a negative dimension")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw SheafError(.limitExceeded, "shape \(Array(shape)) has more elements than can be addressed")
            }
            count = product
        }
        return count
    }

    /// Bytes for `shape` elements of `dtype`, overflow-checked.
    public static func byteCount(_ shape: some Collection<Int>, _ dtype: DType) throws(SheafError) -> Int {
        let (bytes, overflow) = try elementCount(shape).multipliedReportingOverflow(by: dtype.itemSize)
        guard !overflow else {
            throw SheafError(.limitExceeded, "shape \(Array(shape)) of \(dtype) is larger than can be addressed")
        }
        return bytes
    }
}
