import Sheaf
import SheafRuntime

/// Keys and values of the positions a decoder has seen, per layer, so each new
/// token attends to them without recomputing them (`past_key_values`).
///
/// Each step appends its keys and values along the sequence axis (one copy of
/// the cache per step and layer: O(length) per token, small beside the weights
/// a step streams).
public final class KVCache {
    private var keys: [NDArray?]
    private var values: [NDArray?]
    /// The number of positions cached.
    public private(set) var length = 0

    public init(layers: Int) {
        keys = Array(repeating: nil, count: layers)
        values = Array(repeating: nil, count: layers)
    }

    /// Appends a step's `[b, hkv, t, d]` keys and values for `layer` and returns the whole history.
    func append(layer: Int, keys newKeys: NDArray, values newValues: NDArray) throws -> (NDArray, NDArray) {
        guard layer >= 0 && layer < keys.count else { throw RuntimeError(.invalidArgument, "the cache has \(keys.count) layers, asked for layer \(layer)") }
        let k = try keys[layer].map { try NDArray.concatenate([$0, newKeys], axis: 2) } ?? newKeys
        let v = try values[layer].map { try NDArray.concatenate([$0, newValues], axis: 2) } ?? newValues
        keys[layer] = k
        values[layer] = v
        return (k, v)
    }

    /// Marks `count` more positions as cached (after every layer appended them).
    func advance(by count: Int) { length += count }
}

/// A decoder-only language model: token ids in, next-token logits out.
public protocol CausalLanguageModel: AnyObject {
    var layerCount: Int { get }
    var contextLength: Int { get }
    var vocabularySize: Int { get }
    /// The end-of-text token ids of the configuration (generation stops at one by default).
    var endOfText: [Int] { get }

    /// Logits `[b, t, vocab]` (or `[b, 1, vocab]` for the last position when
    /// `lastOnly`) for `ids` of `shape` `[b, t]`, continuing `cache` when given
    /// (and extending it).
    func logits(ids: [Int], shape: [Int], cache: KVCache?, lastOnly: Bool) throws -> NDArray
}

extension CausalLanguageModel {
    /// Checks token ids against the vocabulary and the context length.
    func checkedTokens(_ ids: [Int], shape: [Int], cache: KVCache?) throws -> (Int, Int) {
        guard shape.count == 2, shape[0] > 0, shape[1] > 0, shape[0] * shape[1] == ids.count else {
            throw RuntimeError(.shapeMismatch, "token ids must be shaped [batch, length] with at least one token, found \(ids.count) ids for shape \(shape)")
        }
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw RuntimeError(.invalidArgument, "token id \(bad) is outside the vocabulary of \(vocabularySize)")
        }
        let total = (cache?.length ?? 0) + shape[1]
        guard total <= contextLength else {
            throw RuntimeError(.invalidArgument, "\(total) positions exceed the model's context of \(contextLength)")
        }
        return (shape[0], shape[1])
    }

    /// The pass every decoder here makes: checks the tokens, embeds them at
    /// their positions (after the cached ones), runs each layer (which extends
    /// the cache), normalizes, and projects every position — or only the last
    /// one — to the vocabulary.
    func decoderLogits(ids: [Int], shape: [Int], cache: KVCache?, lastOnly: Bool,
                       embed: (_ batch: Int, _ length: Int, _ past: Int) throws -> NDArray,
                       layer: (_ index: Int, _ x: NDArray) throws -> NDArray,
                       norm: (NDArray) throws -> NDArray, head: (NDArray) throws -> NDArray) throws -> NDArray {
        let (b, t) = try checkedTokens(ids, shape: shape, cache: cache)
        var x = try embed(b, t, cache?.length ?? 0)
        for index in 0..<layerCount { x = try layer(index, x) }
        cache?.advance(by: t)
        x = try norm(x)
        if lastOnly { x = try x.slice(axis: 1, (t - 1)..<t) }
        return try head(x)
    }

    /// Greedy decoding with a KV cache, like transformers' `generate(do_sample=False)`:
    /// the prompt in one pass, then one token per step, each the argmax of the
    /// last position's logits (the first on ties). Stops after `maxNewTokens`,
    /// or after emitting one of `stopTokens` (default: the configuration's
    /// end-of-text ids; pass `[]` to always generate `maxNewTokens`).
    /// - Returns: the new token ids (the prompt not included).
    public func generate(prompt: [Int], maxNewTokens: Int, stopTokens: [Int]? = nil) throws -> [Int] {
        var logits: NDArray? = nil
        return try generate(prompt: prompt, maxNewTokens: maxNewTokens, stopTokens: stopTokens, lastLogits: &logits)
    }

    /// ``generate(prompt:maxNewTokens:stopTokens:)``, also giving the logits `[vocab]`
    /// of the last step (the prompt's last position when `maxNewTokens` is 0).
    public func generate(prompt: [Int], maxNewTokens: Int, stopTokens: [Int]? = nil, lastLogits: inout NDArray?) throws -> [Int] {
        guard maxNewTokens >= 0 else { throw RuntimeError(.invalidArgument, "maxNewTokens must be ≥ 0, found \(maxNewTokens)") }
        guard prompt.count + maxNewTokens <= contextLength else {
            throw RuntimeError(.invalidArgument, "\(prompt.count) prompt tokens and \(maxNewTokens) new ones exceed the model's context of \(contextLength)")
        }
        let stops = Set(stopTokens ?? endOfText)
        let cache = KVCache(layers: layerCount)
        var generated: [Int] = []
        var next = prompt
        repeat {
            let step = try logits(ids: next, shape: [1, next.count], cache: cache, lastOnly: true)
            lastLogits = try step.reshaped([-1])
            if generated.count == maxNewTokens { break }
            let token = try step.argmax()[0]
            generated.append(token)
            if stops.contains(token) || generated.count == maxNewTokens { break }
            next = [token]
        } while true
        return generated
    }
}
