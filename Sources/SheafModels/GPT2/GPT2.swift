import Sheaf
import SheafRuntime

/// The sizes of a GPT-2 model, from transformers' `GPT2Config`.
public struct GPT2Configuration: Sendable, Equatable {
    public var vocabularySize = 50257
    public var contextLength = 1024
    public var embeddingSize = 768
    public var layers = 12
    public var heads = 12
    public var innerSize: Int? = nil
    public var layerNormEpsilon: Float = 1e-5
    public var activation: UnaryOperation = .geluTanh
    public var scaleAttentionByInverseLayerIndex = false
    public var endOfText: [Int] = [50256]

    public init() {}

    /// Reads `config.json`'s GPT-2 fields, checking each.
    public init(_ config: ModelConfiguration) throws {
        vocabularySize = try config.int("vocab_size")
        contextLength = try config.int("n_positions", default: 1024)
        embeddingSize = try config.int("n_embd")
        layers = try config.int("n_layer", in: 1...4096)
        heads = try config.int("n_head", in: 1...4096)
        innerSize = config.has("n_inner") ? try config.int("n_inner") : nil
        layerNormEpsilon = Float(try config.double("layer_norm_epsilon", default: 1e-5))
        activation = try .named(config.string("activation_function") ?? "gelu_new", origin: config.origin)
        scaleAttentionByInverseLayerIndex = try config.bool("scale_attn_by_inverse_layer_idx", default: false)
        guard try config.bool("scale_attn_weights", default: true) else {
            throw ModelError(.invalidConfiguration, "\(config.origin): scale_attn_weights false is not supported")
        }
        endOfText = config.tokenIDs("eos_token_id")
        guard embeddingSize % heads == 0 else {
            throw ModelError(.invalidConfiguration, "\(config.origin): n_embd \(embeddingSize) is not a multiple of n_head \(heads)")
        }
    }

    var inner: Int { innerSize ?? 4 * embeddingSize }
}

/// transformers' `Conv1D`: `y = x · weight + bias` with weight `[in, out]`.
public final class Conv1D: Module {
    public let weight: Parameter
    public let bias: Parameter

    public init(_ inFeatures: Int, _ outFeatures: Int) {
        weight = Parameter(.zeros([inFeatures, outFeatures]))
        bias = Parameter(.zeros([outFeatures]))
        super.init()
    }

    override public func forward(_ x: NDArray) throws -> NDArray { try NDArray.affine(x, weight: weight.value, bias: bias.value) }
}

final class GPT2Attention: Module {
    @ModuleInfo(key: "c_attn") var projection: Conv1D
    @ModuleInfo(key: "c_proj") var output: Conv1D
    let heads: Int
    let scale: Float

    init(_ config: GPT2Configuration, layerIndex: Int) {
        let d = config.embeddingSize
        heads = config.heads
        var scale = 1 / Float(d / config.heads).squareRoot()
        if config.scaleAttentionByInverseLayerIndex { scale /= Float(layerIndex + 1) }
        self.scale = scale
        _projection.wrappedValue = Conv1D(d, 3 * d)
        _output.wrappedValue = Conv1D(d, d)
        super.init()
    }

    func callAsFunction(_ x: NDArray, cache: KVCache?, layer: Int) throws -> NDArray {
        let (b, t, d) = (x.shape[0], x.shape[1], x.shape[2])
        let qkv = try projection(x).split(d, axis: 2)
        func heads(_ y: NDArray) throws -> NDArray { try y.reshaped([b, t, self.heads, d / self.heads]).permuted([0, 2, 1, 3]) }
        var (k, v) = (try heads(qkv[1]), try heads(qkv[2]))
        let past = cache?.length ?? 0
        if let cache { (k, v) = try cache.append(layer: layer, keys: k, values: v) }
        let y = try NDArray.attention(query: heads(qkv[0]), key: k, value: v, scale: scale, causalOffset: past)
        return try output(y.permuted([0, 2, 1, 3]).reshaped([b, t, d]))
    }
}

final class GPT2MLP: Module {
    @ModuleInfo(key: "c_fc") var expand: Conv1D
    @ModuleInfo(key: "c_proj") var contract: Conv1D
    let activation: UnaryOperation

    init(_ config: GPT2Configuration) {
        activation = config.activation
        _expand.wrappedValue = Conv1D(config.embeddingSize, config.inner)
        _contract.wrappedValue = Conv1D(config.inner, config.embeddingSize)
        super.init()
    }

    override func forward(_ x: NDArray) throws -> NDArray { try contract(expand(x).applying(activation)) }
}

final class GPT2Block: Module {
    @ModuleInfo(key: "ln_1") var norm1: LayerNorm
    let attn: GPT2Attention
    @ModuleInfo(key: "ln_2") var norm2: LayerNorm
    let mlp: GPT2MLP

    init(_ config: GPT2Configuration, layerIndex: Int) {
        _norm1.wrappedValue = LayerNorm(config.embeddingSize, epsilon: config.layerNormEpsilon)
        attn = GPT2Attention(config, layerIndex: layerIndex)
        _norm2.wrappedValue = LayerNorm(config.embeddingSize, epsilon: config.layerNormEpsilon)
        mlp = GPT2MLP(config)
        super.init()
    }

    func callAsFunction(_ x: NDArray, cache: KVCache?, layer: Int) throws -> NDArray {
        let h = try x + attn(norm1(x), cache: cache, layer: layer)
        return try h + mlp(norm2(h))
    }
}

/// transformers' `GPT2Model`: token and position embeddings, blocks, final norm.
public final class GPT2Model: Module {
    let wte: Embedding
    let wpe: Embedding
    let h: [GPT2Block]
    @ModuleInfo(key: "ln_f") var finalNorm: LayerNorm

    init(_ config: GPT2Configuration) {
        wte = Embedding(config.vocabularySize, config.embeddingSize, initialization: .zeros)
        wpe = Embedding(config.contextLength, config.embeddingSize, initialization: .zeros)
        h = (0..<config.layers).map { GPT2Block(config, layerIndex: $0) }
        _finalNorm.wrappedValue = LayerNorm(config.embeddingSize, epsilon: config.layerNormEpsilon)
        super.init()
    }
}

/// transformers' `GPT2LMHeadModel`: state-dict keys `transformer.…` and the
/// `lm_head.weight` tied to `transformer.wte.weight` (one Parameter: a
/// checkpoint may hold either key or both).
public final class GPT2LMHeadModel: Module, CausalLanguageModel {
    public let configuration: GPT2Configuration
    let transformer: GPT2Model
    @ModuleInfo(key: "lm_head") var head: TiedHead

    /// A model of `configuration` with zero weights, to be loaded with ``Module/loadStateDict(_:strict:)``.
    public init(_ configuration: GPT2Configuration) {
        self.configuration = configuration
        transformer = GPT2Model(configuration)
        _head.wrappedValue = TiedHead(transformer.wte.weight)
        super.init()
    }

    public var layerCount: Int { configuration.layers }
    public var contextLength: Int { configuration.contextLength }
    public var vocabularySize: Int { configuration.vocabularySize }
    public var endOfText: [Int] { configuration.endOfText }

    public func logits(ids: [Int], shape: [Int], cache: KVCache?, lastOnly: Bool) throws -> NDArray {
        try decoderLogits(ids: ids, shape: shape, cache: cache, lastOnly: lastOnly, embed: { b, t, past in
            let positions = (0..<b).flatMap { _ in past..<(past + t) }
            return try transformer.wte(ids: ids, shape: [b, t]) + transformer.wpe(ids: positions, shape: [b, t])
        }, layer: { index, x in try transformer.h[index](x, cache: cache, layer: index) },
           norm: transformer.finalNorm.callAsFunction, head: head.callAsFunction)
    }

    /// Checks the checkpoint's shapes against the configuration, then builds
    /// and loads the model (strict). Accepts both transformers layouts: a
    /// `GPT2LMHeadModel` state dict and a bare `GPT2Model` one (keys without
    /// `transformer.`, as the original `gpt2` checkpoints have), and drops the
    /// causal-mask buffers older versions saved (`attn.bias`, `attn.masked_bias`).
    public static func load(_ stateDict: StateDict, configuration: GPT2Configuration, origin: String) throws -> GPT2LMHeadModel {
        let state = normalized(stateDict)
        let c = configuration, d = c.embeddingSize
        var check = ShapeCheck(state, origin: origin)
        check.expect("transformer.wte.weight", [c.vocabularySize, d])
        check.expect("transformer.wpe.weight", [c.contextLength, d])
        check.expectBlocks("transformer.h.", c.layers, "n_layer")
        check.expect("transformer.h.0.attn.c_attn.weight", [d, 3 * d])
        check.expect("transformer.h.0.mlp.c_fc.weight", [d, c.inner])
        check.expect("lm_head.weight", [c.vocabularySize, d], optional: true)
        try check.check()
        let model = GPT2LMHeadModel(configuration)
        try model.loadStateDict(state)
        return model
    }

    static func normalized(_ stateDict: StateDict) -> StateDict {
        var pairs: [(String, Tensor)] = []
        let bare = !stateDict.keys.contains { $0.hasPrefix("transformer.") }
        for (key, tensor) in stateDict {
            if key.hasSuffix(".attn.masked_bias") || (key.hasSuffix(".attn.bias") && tensor.rank == 4) { continue }
            pairs.append((bare && key != "lm_head.weight" ? "transformer." + key : key, tensor))
        }
        return StateDict(pairs, metadata: stateDict.metadata)
    }
}

/// A language-model head whose weight is another module's Parameter (tied embeddings).
final class TiedHead: Module {
    let weight: Parameter
    init(_ weight: Parameter) { self.weight = weight; super.init() }
    override func forward(_ x: NDArray) throws -> NDArray { try NDArray.linear(x, weight: weight.value, bias: nil) }
}
