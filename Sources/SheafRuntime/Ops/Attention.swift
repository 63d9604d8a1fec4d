import Glibc
import Sheaf

extension NDArray {
    /// A numerically stable softmax over the last axis, like `softmax(-1)`.
    /// With `causalOffset`, row `i` of each trailing `[t, s]` block keeps
    /// columns `0 ... i + causalOffset` and gives the rest zero weight (the
    /// causal mask of a decoder whose first `causalOffset` keys are cached).
    public func softmax(causalOffset: Int? = nil) throws -> NDArray {
        try requireFloat32("softmax")
        guard rank >= 1 else { throw RuntimeError(.shapeMismatch, "softmax of a 0-d array") }
        if let causalOffset, causalOffset < 0 { throw RuntimeError(.invalidArgument, "causal offset must be ≥ 0, found \(causalOffset)") }
        return try backend.softmax(self, causalOffset: causalOffset)
    }

    /// Scaled dot-product attention: softmax(q·kᵀ·scale (+ causal mask))·v for
    /// q `[b, h, t, d]` and k, v `[b, hkv, s, d]`, where `h` is a multiple of
    /// `hkv` (grouped-query attention: each key/value head serves `h / hkv`
    /// query heads). With `causalOffset`, query `i` sees keys `0 ... i + causalOffset`.
    /// - Complexity: O(b·h·t·s·d).
    public static func attention(query q: NDArray, key k: NDArray, value v: NDArray, scale: Float? = nil,
                                 causalOffset: Int? = nil) throws -> NDArray {
        for x in [q, k, v] { try x.requireFloat32("attention"); try q.sameDevice(x, "attention") }
        guard q.rank == 4, k.rank == 4, v.shape == k.shape, q.shape[0] == k.shape[0], q.shape[3] == k.shape[3],
              k.shape[1] > 0, q.shape[1] % k.shape[1] == 0 else {
            throw RuntimeError(.shapeMismatch, "attention needs q [b, h, t, d] and k, v [b, hkv, s, d] with h a multiple of hkv, found \(q.shape), \(k.shape), \(v.shape)")
        }
        if let causalOffset, causalOffset < 0 { throw RuntimeError(.invalidArgument, "causal offset must be ≥ 0, found \(causalOffset)") }
        let scale = scale ?? 1 / Float(q.shape[3]).squareRoot()
        return try q.backend.attention(q, k, v, scale: scale, causalOffset: causalOffset)
    }

    /// Rotary position embedding of `[b, h, t, d]` (transformers' rotate-half
    /// form) for positions `offset ..< offset + t`.
    public func rotaryEmbedding(offset: Int, inverseFrequencies: [Float]) throws -> NDArray {
        try requireFloat32("rotary embedding")
        guard rank >= 2, let d = shape.last, d % 2 == 0, inverseFrequencies.count == d / 2, offset >= 0 else {
            throw RuntimeError(.shapeMismatch, "rotary embedding needs [..., t, d] with even d and d/2 frequencies, found shape \(shape) and \(inverseFrequencies.count) frequencies")
        }
        return try backend.rope(self, offset: offset, inverseFrequencies: inverseFrequencies)
    }

    /// Token embeddings: the rows of `weight` `[vocab, d]` at `ids`, shaped `idsShape + [d]`.
    public static func embedding(_ weight: NDArray, ids: [Int], shape idsShape: [Int]) throws -> NDArray {
        try weight.requireFloat32("embedding")
        guard weight.rank == 2 else { throw RuntimeError(.shapeMismatch, "embedding weight must be [vocab, d], found \(weight.shape)") }
        guard idsShape.reduce(1, *) == ids.count, idsShape.allSatisfy({ $0 >= 0 }) else {
            throw RuntimeError(.shapeMismatch, "embedding: \(ids.count) ids do not fill shape \(idsShape)")
        }
        if let bad = ids.first(where: { $0 < 0 || $0 >= weight.shape[0] }) {
            throw RuntimeError(.invalidArgument, "token id \(bad) is outside the vocabulary of \(weight.shape[0])")
        }
        return try weight.backend.embedding(weight, ids: ids, outShape: idsShape + [weight.shape[1]])
    }
}

/// How rotary frequencies are stretched for long contexts (transformers' `rope_scaling`).
public enum RoPEScaling: Sendable, Equatable {
    /// Llama 3's: frequencies below `lowFrequencyFactor` are divided by `factor`, smoothly.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)
    /// Linear: every frequency divided by `factor`.
    case linear(factor: Double)

    /// The inverse frequencies `1 / theta^(2i/d)` for head size `d`, as
    /// transformers computes them in float32, then scaled.
    public static func inverseFrequencies(headSize d: Int, theta: Double, scaling: RoPEScaling?) -> [Float] {
        var result = (0..<(d / 2)).map { i in Float(1) / powf(Float(theta), Float(2 * i) / Float(d)) }
        switch scaling {
        case nil: break
        case .linear(let factor): result = result.map { $0 / Float(factor) }
        case .llama3(let factor, let low, let high, let original):
            let lowWavelength = Double(original) / low, highWavelength = Double(original) / high
            result = result.map { frequency in
                let wavelength = 2 * Double.pi / Double(frequency)
                if wavelength < highWavelength { return frequency }
                if wavelength > lowWavelength { return frequency / Float(factor) }
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return Float((1 - smooth) * Double(frequency) / factor + smooth * Double(frequency))
            }
        }
        return result
    }
}
