import Foundation
import Testing
import Sheaf
import SheafInterchange
import SheafModels
@testable import SheafRuntime
import SheafTestSupport

/// Reference outputs written by transformers / torchvision (Fixtures/make_model_fixtures.py).
enum ModelFixtures {
    static func path(_ name: String) -> String { fixturePath("models/" + name) }

    static func floats(_ name: String) throws -> (shape: [Int], values: [Float]) {
        let tensor = try Interchange.open(path: path(name)).tensor(at: 0)
        return (tensor.shape, try tensor.scalars(as: Float.self))
    }

    struct Reference: Decodable {
        let prompt: [[Int]]
        let generated: [[Int]]
    }

    static func reference(_ model: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: path(model + "/reference.json"))))
    }

    /// The largest difference relative to the reference's largest magnitude.
    static func relativeError(_ actual: [Float], _ expected: [Float]) -> Double {
        guard actual.count == expected.count, !expected.isEmpty else { return .infinity }
        let scale = Double(expected.map { abs($0) }.max() ?? 0)
        var worst = 0.0
        for (a, b) in zip(actual, expected) { worst = max(worst, Double(abs(a - b))) }
        return worst / max(scale, 1e-12)
    }

    /// Logits of the reference prompt (both rows as one batch).
    static func logits(_ model: any CausalLanguageModel, _ reference: Reference) throws -> NDArray {
        try model.logits(ids: reference.prompt.flatMap { $0 }, shape: [reference.prompt.count, reference.prompt[0].count],
                         cache: nil, lastOnly: false)
    }

}

@Suite("Architectures match the reference libraries' outputs")
struct ModelParityTests {
    @Test("GPT-2 from a save_pretrained folder: logits match transformers to 1e-4, greedy generation is identical")
    func gpt2Folder() throws {
        let state = try Interchange.loadStateDict(path: ModelFixtures.path("gpt2"))
        let model = try Architectures.causalLanguageModel(from: state, origin: "gpt2")
        #expect(model is GPT2LMHeadModel)
        let reference = try ModelFixtures.reference("gpt2")
        let logits = try ModelFixtures.logits(model, reference)
        let expected = try ModelFixtures.floats("gpt2/reference_logits.npy")
        #expect(logits.shape == expected.shape)
        let error = ModelFixtures.relativeError(try logits.scalars(as: Float.self), expected.values)
        #expect(error <= 1e-4, "relative error \(error)")
        for (prompt, generated) in zip(reference.prompt, reference.generated) {
            #expect(try model.generate(prompt: prompt, maxNewTokens: 20, stopTokens: []) == generated)
        }
    }

    @Test("GPT-2 from torch.save(state_dict) (lm_head.weight tied and present) gives the same logits")
    func gpt2TorchCheckpoint() throws {
        let config = try ModelConfiguration(json: String(contentsOfFile: ModelFixtures.path("gpt2/config.json"), encoding: .utf8))
        let state = try Interchange.loadStateDict(path: ModelFixtures.path("gpt2/pytorch_model.bin"))
        #expect(state["lm_head.weight"] != nil)
        let model = try GPT2LMHeadModel.load(state, configuration: try GPT2Configuration(config), origin: "pytorch_model.bin")
        let saved = try model.stateDict()
        #expect(saved["lm_head.weight"]!.sharesStorage(with: saved["transformer.wte.weight"]!))
        let reference = try ModelFixtures.reference("gpt2")
        let error = ModelFixtures.relativeError(try ModelFixtures.logits(model, reference).scalars(as: Float.self),
                                                try ModelFixtures.floats("gpt2/reference_logits.npy").values)
        #expect(error <= 1e-4, "relative error \(error)")
    }

    @Test("Llama (bfloat16 weights, grouped-query attention, llama3 rope scaling): logits and generation match transformers")
    func llama() throws {
        let state = try Interchange.loadStateDict(path: ModelFixtures.path("llama"))
        #expect(state["model.embed_tokens.weight"]?.dtype == .bfloat16)
        let model = try Architectures.causalLanguageModel(from: state, origin: "llama")
        #expect(model is LlamaForCausalLM)
        let reference = try ModelFixtures.reference("llama")
        let logits = try ModelFixtures.logits(model, reference).scalars(as: Float.self)
        // transformers computing in float32 on the same bfloat16-rounded weights.
        let error = ModelFixtures.relativeError(logits, try ModelFixtures.floats("llama/reference_logits.npy").values)
        #expect(error <= 1e-4, "relative error \(error)")
        // transformers computing in bfloat16 itself: bfloat16 rounding at every step (8 bits of mantissa).
        let lowError = ModelFixtures.relativeError(logits, try ModelFixtures.floats("llama/reference_logits_bf16_compute.npy").values)
        #expect(lowError <= 5e-2, "relative error \(lowError) against bfloat16 compute")
        for (prompt, generated) in zip(reference.prompt, reference.generated) {
            #expect(try model.generate(prompt: prompt, maxNewTokens: 20, stopTokens: []) == generated)
        }
    }

    @Test("the KV cache gives the logits of a full recomputation")
    func cache() throws {
        let model = try Architectures.causalLanguageModel(from: try Interchange.loadStateDict(path: ModelFixtures.path("llama")), origin: "llama")
        let tokens = [5, 17, 42, 7, 99, 3]
        let full = try model.logits(ids: tokens, shape: [1, 6], cache: nil, lastOnly: false).slice(axis: 1, 5..<6).scalars(as: Float.self)
        let cache = KVCache(layers: model.layerCount)
        _ = try model.logits(ids: Array(tokens.prefix(4)), shape: [1, 4], cache: cache, lastOnly: true)
        _ = try model.logits(ids: [tokens[4]], shape: [1, 1], cache: cache, lastOnly: true)
        let step = try model.logits(ids: [tokens[5]], shape: [1, 1], cache: cache, lastOnly: true).scalars(as: Float.self)
        #expect(ModelFixtures.relativeError(step, full) <= 1e-5)
        #expect(cache.length == 6)
    }

    @Test("ResNet-18 and ResNet-50 load torchvision's state dicts strictly and match torchvision to 1e-4", arguments: ["resnet18", "resnet50"])
    func resnet(_ name: String) throws {
        let state = try ResNetFixtureWeights.resnetStateDict(name)
        let depth = try #require(ResNet.Depth(rawValue: name))
        let model = try ResNet.load(depth, state, origin: name)
        #expect(Array(try model.stateDict().keys) == Array(state.keys), "the same keys in torchvision's order")
        let images = try Interchange.open(path: ModelFixtures.path("resnet/images.npy")).tensor(at: 0)
        let logits = try model(NDArray(images))
        let expected = try ModelFixtures.floats("resnet/\(name)_logits.npy")
        #expect(logits.shape == expected.shape)
        let error = ModelFixtures.relativeError(try logits.scalars(as: Float.self), expected.values)
        #expect(error <= 1e-4, "relative error \(error)")
    }

    @Test("configurations that do not fit the weights, and unknown architectures, are named errors")
    func mismatches() throws {
        var state = try Interchange.loadStateDict(path: ModelFixtures.path("gpt2"))
        var config = state.metadata["hf_config"]
        guard case .string(let text)? = config else { Issue.record("no hf_config"); return }
        config = .string(text.replacingOccurrences(of: "\"n_layer\": 2", with: "\"n_layer\": 3"))
        state.metadata["hf_config"] = config
        #expect { try Architectures.causalLanguageModel(from: state, origin: "gpt2") } throws: { error in
            (error as? ModelError)?.code == .configurationMismatch && "\(error)".contains("n_layer is 3, the weights have 2 blocks")
        }
        state.metadata["hf_config"] = .string(text.replacingOccurrences(of: "\"model_type\": \"gpt2\"", with: "\"model_type\": \"bert\""))
        #expect { try Architectures.causalLanguageModel(from: state, origin: "gpt2") } throws: { error in
            (error as? ModelError)?.code == .unknownArchitecture && "\(error)".contains("'bert'")
        }
        state.metadata["hf_config"] = .string(text.replacingOccurrences(of: "\"vocab_size\": 128", with: "\"vocab_size\": 1e15"))
        #expect { try Architectures.causalLanguageModel(from: state, origin: "gpt2") } throws: { error in
            (error as? ModelError)?.code == .invalidConfiguration
        }
        state.metadata["hf_config"] = nil
        #expect(throws: ModelError.self) { try Architectures.causalLanguageModel(from: state, origin: "gpt2") }
    }
}
