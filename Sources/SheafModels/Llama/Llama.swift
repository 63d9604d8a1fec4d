import Sheaf
import SheafRuntime

/// The sizes of a Llama-family model, from transformers' `LlamaConfig`.
public struct LlamaConfiguration: Sendable, Equatable {
    public var vocabularySize = 32000
    public var hiddenSize = 4096
    public var intermediateSize = 11008
    public var layers = 32
    public var heads = 32
    public var keyValueHeads = 32
    public var headSize = 128
    public var contextLength = 2048
    public var ropeTheta = 10000.0
    public var ropeScaling: RoPEScaling? = nil
    public var rmsNormEpsilon: Float = 1e-6
    public var tiedEmbeddings = false
    public var attentionBias = false
    public var mlpBias = false
    public var endOfText: [Int] = [2]

    public init() {}

    /// Reads `config.json`'s Llama fields, checking each.
    public init(_ config: ModelConfiguration) throws {
        vocabularySize = try config.int("vocab_size")
        hiddenSize = try config.int("hidden_size")
        intermediateSize = try config.int("intermediate_size")
        layers = try config.int("num_hidden_layers", in: 1...4096)
        heads = try config.int("num_attention_heads", in: 1...4096)
        keyValueHeads = try config.int("num_key_value_heads", default: heads, in: 1...4096)
        headSize = try config.int("head_dim", default: hiddenSize / heads)
        contextLength = try config.int("max_position_embeddings", default: 2048)
        // transformers 5 writes rope_parameters (theta and scaling together); 4.x rope_theta and rope_scaling.
        let rope = config.object("rope_parameters")
        ropeTheta = try rope?.double("rope_theta", default: try config.double("rope_theta", default: 10000))
            ?? config.double("rope_theta", default: 10000)
        rmsNormEpsilon = Float(try config.double("rms_norm_eps", default: 1e-6))
        tiedEmbeddings = try config.bool("tie_word_embeddings", default: false)
        attentionBias = try config.bool("attention_bias", default: false)
        mlpBias = try config.bool("mlp_bias", default: false)
        endOfText = config.tokenIDs("eos_token_id")
        let activation = try UnaryOperation.named(config.string("hidden_act") ?? "silu", origin: config.origin)
        guard activation == .silu else { throw ModelError(.invalidConfiguration, "\(config.origin): Llama's MLP needs hidden_act silu") }
        guard heads % keyValueHeads == 0, headSize % 2 == 0, ropeTheta > 0 else {
            throw ModelError(.invalidConfiguration, "\(config.origin): num_attention_heads \(heads) must be a multiple of num_key_value_heads \(keyValueHeads), head_dim \(headSize) even, rope_theta positive")
        }
        if let scaling = config.object("rope_scaling") ?? rope {
            let kind = scaling.string("rope_type") ?? scaling.string("type") ?? "default"
            switch kind {
            case "default": ropeScaling = nil
            case "linear": ropeScaling = .linear(factor: try scaling.double("factor", default: 1))
            case "llama3":
                ropeScaling = .llama3(factor: try scaling.double("factor", default: 8),
                                      lowFrequencyFactor: try scaling.double("low_freq_factor", default: 1),
                                      highFrequencyFactor: try scaling.double("high_freq_factor", default: 4),
                                      originalContext: try scaling.int("original_max_position_embeddings", default: 8192))
            default:
                throw ModelError(.invalidConfiguration, "\(config.origin): rope_scaling type \(printable(kind)) is not supported (default, linear, llama3)")
            }
        }
    }
}

final class LlamaAttention: Module {
    @ModuleInfo(key: "q_proj") var query: Linear
    @ModuleInfo(key: "k_proj") var key: Linear
    @ModuleInfo(key: "v_proj") var value: Linear
    @ModuleInfo(key: "o_proj") var output: Linear
    let heads: Int, keyValueHeads: Int, headSize: Int
    let frequencies: [Float]

    init(_ c: LlamaConfiguration, frequencies: [Float]) {
        (heads, keyValueHeads, headSize) = (c.heads, c.keyValueHeads, c.headSize)
        self.frequencies = frequencies
        _query.wrappedValue = Linear(c.hiddenSize, c.heads * c.headSize, bias: c.attentionBias, initialization: .zeros)
        _key.wrappedValue = Linear(c.hiddenSize, c.keyValueHeads * c.headSize, bias: c.attentionBias, initialization: .zeros)
        _value.wrappedValue = Linear(c.hiddenSize, c.keyValueHeads * c.headSize, bias: c.attentionBias, initialization: .zeros)
        _output.wrappedValue = Linear(c.heads * c.headSize, c.hiddenSize, bias: c.attentionBias, initialization: .zeros)
        super.init()
    }

    func callAsFunction(_ x: NDArray, cache: KVCache?, layer: Int) throws -> NDArray {
        let (b, t) = (x.shape[0], x.shape[1])
        let past = cache?.length ?? 0
        func split(_ y: NDArray, _ count: Int) throws -> NDArray { try y.reshaped([b, t, count, headSize]).permuted([0, 2, 1, 3]) }
        let q = try split(query(x), heads).rotaryEmbedding(offset: past, inverseFrequencies: frequencies)
        var k = try split(key(x), keyValueHeads).rotaryEmbedding(offset: past, inverseFrequencies: frequencies)
        var v = try split(value(x), keyValueHeads)
        if let cache { (k, v) = try cache.append(layer: layer, keys: k, values: v) }
        let y = try NDArray.attention(query: q, key: k, value: v, causalOffset: past)
        return try output(y.permuted([0, 2, 1, 3]).reshaped([b, t, heads * headSize]))
    }
}

final class LlamaMLP: Module {
    @ModuleInfo(key: "gate_proj") var gate: Linear
    @ModuleInfo(key: "up_proj") var up: Linear
    @ModuleInfo(key: "down_proj") var down: Linear

    init(_ c: LlamaConfiguration) {
        _gate.wrappedValue = Linear(c.hiddenSize, c.intermediateSize, bias: c.mlpBias, initialization: .zeros)
        _up.wrappedValue = Linear(c.hiddenSize, c.intermediateSize, bias: c.mlpBias, initialization: .zeros)
        _down.wrappedValue = Linear(c.intermediateSize, c.hiddenSize, bias: c.mlpBias, initialization: .zeros)
        super.init()
    }

    override func forward(_ x: NDArray) throws -> NDArray { try down(gate(x).silu() * up(x)) }
}

final class LlamaDecoderLayer: Module {
    @ModuleInfo(key: "self_attn") var attention: LlamaAttention
    let mlp: LlamaMLP
    @ModuleInfo(key: "input_layernorm") var inputNorm: RMSNorm
    @ModuleInfo(key: "post_attention_layernorm") var postAttentionNorm: RMSNorm

    init(_ c: LlamaConfiguration, frequencies: [Float]) {
        _attention.wrappedValue = LlamaAttention(c, frequencies: frequencies)
        mlp = LlamaMLP(c)
        _inputNorm.wrappedValue = RMSNorm(c.hiddenSize, epsilon: c.rmsNormEpsilon)
        _postAttentionNorm.wrappedValue = RMSNorm(c.hiddenSize, epsilon: c.rmsNormEpsilon)
        super.init()
    }

    func callAsFunction(_ x: NDArray, cache: KVCache?, layer: Int) throws -> NDArray {
        let h = try x + attention(inputNorm(x), cache: cache, layer: layer)
        return try h + mlp(postAttentionNorm(h))
    }
}

/// transformers' `LlamaModel`.
public final class LlamaModel: Module {
    @ModuleInfo(key: "embed_tokens") var embedTokens: Embedding
    let layers: [LlamaDecoderLayer]
    let norm: RMSNorm

    init(_ c: LlamaConfiguration) {
        let frequencies = RoPEScaling.inverseFrequencies(headSize: c.headSize, theta: c.ropeTheta, scaling: c.ropeScaling)
        _embedTokens.wrappedValue = Embedding(c.vocabularySize, c.hiddenSize, initialization: .zeros)
        layers = (0..<c.layers).map { _ in LlamaDecoderLayer(c, frequencies: frequencies) }
        norm = RMSNorm(c.hiddenSize, epsilon: c.rmsNormEpsilon)
        super.init()
    }
}

/// transformers' `LlamaForCausalLM` (Llama 2/3, and models with its layout):
/// keys `model.…` and `lm_head.weight`, or the head tied to the embeddings
/// when `tie_word_embeddings` (one Parameter under both keys).
public final class LlamaForCausalLM: Module, CausalLanguageModel {
    public let configuration: LlamaConfiguration
    let model: LlamaModel
    @ModuleInfo(key: "lm_head") var head: Module

    /// A model of `configuration` with zero weights, to be loaded with ``Module/loadStateDict(_:strict:)``.
    public init(_ configuration: LlamaConfiguration) {
        self.configuration = configuration
        model = LlamaModel(configuration)
        _head.wrappedValue = configuration.tiedEmbeddings
            ? TiedHead(model.embedTokens.weight)
            : Linear(configuration.hiddenSize, configuration.vocabularySize, bias: false, initialization: .zeros)
        super.init()
    }

    public var layerCount: Int { configuration.layers }
    public var contextLength: Int { configuration.contextLength }
    public var vocabularySize: Int { configuration.vocabularySize }
    public var endOfText: [Int] { configuration.endOfText }

    public func logits(ids: [Int], shape: [Int], cache: KVCache?, lastOnly: Bool) throws -> NDArray {
        try decoderLogits(ids: ids, shape: shape, cache: cache, lastOnly: lastOnly,
                          embed: { b, t, _ in try model.embedTokens(ids: ids, shape: [b, t]) },
                          layer: { index, x in try model.layers[index](x, cache: cache, layer: index) },
                          norm: model.norm.callAsFunction, head: head.callAsFunction)
    }

    /// Checks the checkpoint's shapes against the configuration, then builds
    /// and loads the model (strict; bfloat16/float16 weights are converted to
    /// float32 once, here). Drops `rotary_emb.inv_freq` buffers older versions
    /// saved (they are computed from the configuration).
    public static func load(_ stateDict: StateDict, configuration: LlamaConfiguration, origin: String) throws -> LlamaForCausalLM {
        let state = StateDict(stateDict.filter { !$0.key.hasSuffix("rotary_emb.inv_freq") }.map { ($0.key, $0.tensor) }, metadata: stateDict.metadata)
        let c = configuration
        var check = ShapeCheck(state, origin: origin)
        check.expect("model.embed_tokens.weight", [c.vocabularySize, c.hiddenSize])
        check.expectBlocks("model.layers.", c.layers, "num_hidden_layers")
        check.expect("model.layers.0.self_attn.q_proj.weight", [c.heads * c.headSize, c.hiddenSize])
        check.expect("model.layers.0.self_attn.k_proj.weight", [c.keyValueHeads * c.headSize, c.hiddenSize])
        check.expect("model.layers.0.mlp.gate_proj.weight", [c.intermediateSize, c.hiddenSize])
        check.expect("lm_head.weight", [c.vocabularySize, c.hiddenSize], optional: c.tiedEmbeddings)
        try check.check()
        let model = LlamaForCausalLM(configuration)
        try model.loadStateDict(state)
        return model
    }
}
