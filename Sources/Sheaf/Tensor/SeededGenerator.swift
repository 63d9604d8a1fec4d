/// A fast, seedable random number generator (xoshiro256**, seeded through
/// SplitMix64), so random tensors are reproducible across runs and platforms.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var s = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(&s), splitmix(&s), splitmix(&s), splitmix(&s))
    }

    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }
}

extension Tensor {
    /// Elements drawn uniformly from `range` (float32 or float64).
    public init<G: RandomNumberGenerator>(randomUniform shape: [Int], in range: ClosedRange<Double> = 0...1,
                                          dtype: DType = .float32, using generator: inout G) throws(SheafError) {
        let n = try Shape.elementCount(shape)
        let values = (0..<n).map { _ in Double.random(in: range, using: &generator) }
        self = try Tensor(shape: shape, scalars: values).converted(to: dtype)
    }

    /// Elements drawn from a normal distribution (Box-Muller), like `torch.randn`.
    public init<G: RandomNumberGenerator>(randomNormal shape: [Int], mean: Double = 0, standardDeviation: Double = 1,
                                          dtype: DType = .float32, using generator: inout G) throws(SheafError) {
        let n = try Shape.elementCount(shape)
        var values: [Double] = []
        values.reserveCapacity(n + 1)
        while values.count < n {
            let u1 = Double.random(in: Double.ulpOfOne...1, using: &generator)
            let u2 = Double.random(in: 0..<1, using: &generator)
            let radius = (-2 * _log(u1)).squareRoot()
            values.append(mean + standardDeviation * radius * _cos(2 * .pi * u2))
            values.append(mean + standardDeviation * radius * _sin(2 * .pi * u2))
        }
        values.removeLast(values.count - n)
        self = try Tensor(shape: shape, scalars: values).converted(to: dtype)
    }
}

import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Glibc.sin(x) }
