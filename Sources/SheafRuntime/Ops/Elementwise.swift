import Sheaf

extension NDArray {
    /// The broadcast shape of two shapes (NumPy rules), or an error naming both.
    static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let rank = max(a.count, b.count)
        var result: [Int] = []
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard x == y || x == 1 || y == 1 else {
                throw RuntimeError(.shapeMismatch, "cannot broadcast shapes \(a) and \(b)")
            }
            result.append(x == 1 ? y : x)
        }
        return result
    }

    /// Element strides of `shape` broadcast to `output` (0 along broadcast dims).
    static func broadcastStrides(_ shape: [Int], to output: [Int]) -> [Int] {
        var strides = [Int](repeating: 0, count: output.count)
        var step = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            let o = i + output.count - shape.count
            strides[o] = shape[i] == 1 ? 0 : step
            step *= shape[i]
        }
        return strides
    }

    /// `a OP b` with broadcasting.
    public static func binary(_ a: NDArray, _ b: NDArray, _ op: BinaryOperation) throws -> NDArray {
        try a.sameDevice(b, "\(op)")
        try a.requireFloat("\(op)")
        guard a.dtype == b.dtype else {
            throw RuntimeError(.dtypeUnsupported, "\(op): dtypes differ (\(a.dtype) and \(b.dtype))")
        }
        return try a.backend.binary(op, a, b, shape: try broadcastShape(a.shape, b.shape))
    }

    public static func + (a: NDArray, b: NDArray) throws -> NDArray { try binary(a, b, .add) }
    public static func - (a: NDArray, b: NDArray) throws -> NDArray { try binary(a, b, .subtract) }
    public static func * (a: NDArray, b: NDArray) throws -> NDArray { try binary(a, b, .multiply) }
    public static func / (a: NDArray, b: NDArray) throws -> NDArray { try binary(a, b, .divide) }
    public static func + (a: NDArray, b: Double) throws -> NDArray { try binary(a, try a.scalar(b), .add) }
    public static func - (a: NDArray, b: Double) throws -> NDArray { try binary(a, try a.scalar(b), .subtract) }
    public static func * (a: NDArray, b: Double) throws -> NDArray { try binary(a, try a.scalar(b), .multiply) }
    public static func / (a: NDArray, b: Double) throws -> NDArray { try binary(a, try a.scalar(b), .divide) }

    /// A 0-d array of this array's dtype and device holding `value`.
    func scalar(_ value: Double) throws -> NDArray {
        try NDArray(try Tensor(scalar: value).converted(to: dtype), on: device)
    }

    /// Elementwise equality as a bool array (broadcasting).
    public static func .== (a: NDArray, b: NDArray) throws -> NDArray {
        try a.sameDevice(b, "==")
        try a.requireFloat("==")
        guard a.dtype == b.dtype else { throw RuntimeError(.dtypeUnsupported, "==: dtypes differ (\(a.dtype) and \(b.dtype))") }
        return try a.backend.equal(a, b, shape: try broadcastShape(a.shape, b.shape))
    }

    /// Whether every element of a bool array is true.
    public func allTrue() throws -> Bool {
        try tensor().scalars(as: Bool.self).allSatisfy { $0 }
    }

    /// A unary operation elementwise.
    public func applying(_ op: UnaryOperation) throws -> NDArray {
        if op == .relu { try requireFloat("\(op)") } else { try requireFloat32("\(op)") }
        return try backend.unary(op, self)
    }

    /// max(x, 0) elementwise (NaN stays NaN).
    public func relu() throws -> NDArray { try applying(.relu) }
    /// GELU; `approximate: true` is the tanh form (GPT-2's `gelu_new`).
    public func gelu(approximate: Bool = false) throws -> NDArray { try applying(approximate ? .geluTanh : .gelu) }
    /// x·σ(x).
    public func silu() throws -> NDArray { try applying(.silu) }
}

/// max(x, 0) elementwise, like `F.relu`.
public func relu(_ x: NDArray) throws -> NDArray { try x.relu() }
