import Sheaf
import Synchronization

/// Process-wide random source for initialisation, seedable like `torch.manual_seed`.
public enum RandomSource {
    static let generator = Mutex(SeededGenerator(seed: 0x5EAF))

    /// Reseeds the default generator.
    public static func manualSeed(_ seed: UInt64) { generator.withLock { $0 = SeededGenerator(seed: seed) } }

    static func next<R>(_ body: (inout SeededGenerator) throws -> R) rethrows -> R {
        try generator.withLock { try body(&$0) }
    }
}

extension NDArray {
    /// A valid shape for a host array made from code, or a precondition failure
    /// naming it: layer sizes are the program's, not a file's (models built from
    /// a file's configuration check it first and throw).
    static func checkedShape(_ shape: [Int], _ what: @autoclosure () -> String) -> [Int] {
        precondition(shape.allSatisfy { $0 >= 0 } && (try? Shape.elementCount(shape)) != nil,
                     "\(what()): invalid shape \(shape)")
        return shape
    }

    /// Zeros of `shape` on the CPU. Never throws; a negative dimension is a
    /// programming error (precondition).
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> NDArray {
        let shape = checkedShape(shape, "zeros")
        // The shape was checked: the element count does not overflow.
        return NDArray((try? Tensor(zeros: shape, dtype: dtype)) ?? Tensor(scalar: Float(0)))
    }

    /// Zeros of `shape` on `device`.
    public static func zeros(_ shape: [Int], dtype: DType = .float32, on device: Device) throws -> NDArray {
        try NDArray(try Tensor(zeros: shape, dtype: dtype), on: device)
    }

    /// Ones of `shape`.
    public static func ones(_ shape: [Int], dtype: DType = .float32, on device: Device = .cpu) throws -> NDArray {
        try NDArray(try Tensor(ones: shape, dtype: dtype), on: device)
    }

    /// A float32 array of `shape` filled with `value`, on the CPU.
    static func filled(_ shape: [Int], _ value: Float) -> NDArray {
        NDArray.host(shape) { out in out.initialize(repeating: value) }
    }

    /// Standard normal values on the CPU, like `torch.randn`. Never throws.
    public static func randn(_ shape: [Int]) -> NDArray {
        let shape = checkedShape(shape, "randn")
        return NDArray(RandomSource.next { generator in
            (try? Tensor(randomNormal: shape, using: &generator)) ?? Tensor(scalar: Float(0))
        })
    }

    /// Standard normal values on `device`.
    public static func randn(_ shape: [Int], on device: Device) throws -> NDArray {
        try randn(shape).to(device)
    }

    /// Uniform values in [0, 1) on the CPU, like `torch.rand`. Never throws.
    public static func rand(_ shape: [Int]) -> NDArray { uniform(shape, in: 0...1) }

    /// Uniform values in [0, 1) on `device`.
    public static func rand(_ shape: [Int], on device: Device) throws -> NDArray { try rand(shape).to(device) }

    /// Uniform values in `range` on the CPU. Never throws.
    public static func uniform(_ shape: [Int], in range: ClosedRange<Double>) -> NDArray {
        let shape = checkedShape(shape, "uniform")
        return NDArray(RandomSource.next { generator in
            (try? Tensor(randomUniform: shape, in: range, using: &generator)) ?? Tensor(scalar: Float(0))
        })
    }

    /// Uniform values in `range` on `device`.
    public static func uniform(_ shape: [Int], in range: ClosedRange<Double>, on device: Device) throws -> NDArray {
        try uniform(shape, in: range).to(device)
    }
}
