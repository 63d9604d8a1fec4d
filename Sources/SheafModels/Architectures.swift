import Sheaf
import SheafRuntime

/// Builds models from what a file carries.
public enum Architectures {
    /// The `model_type` values ``causalLanguageModel(from:origin:)`` builds.
    public static let languageModelTypes = ["gpt2", "llama"]

    /// The causal language model a converted Hugging Face folder describes: its
    /// `hf_config` metadata names the architecture (`model_type`) and its sizes,
    /// its tensors are the weights (loaded strictly).
    public static func causalLanguageModel(from stateDict: StateDict, origin: String) throws -> any CausalLanguageModel {
        let config = try ModelConfiguration(metadata: stateDict.metadata, origin: origin)
        switch config.modelType {
        case "gpt2"?:
            return try GPT2LMHeadModel.load(stateDict, configuration: try GPT2Configuration(config), origin: origin)
        case "llama"?:
            return try LlamaForCausalLM.load(stateDict, configuration: try LlamaConfiguration(config), origin: origin)
        case let other?:
            throw ModelError(.unknownArchitecture, "\(origin): model_type \(printable(other)) is not supported; Sheaf runs \(languageModelTypes.joined(separator: ", "))")
        case nil:
            throw ModelError(.invalidConfiguration, "\(origin): hf_config has no model_type")
        }
    }
}
