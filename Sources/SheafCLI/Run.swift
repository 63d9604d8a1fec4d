import ArgumentParser
import Foundation
import Sheaf
import SheafInterchange
import SheafModels
import SheafRuntime

extension SheafCommand {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a model: a converted Hugging Face language model on token ids, or a code-defined architecture on an input.",
            discussion: """
                A language model (GPT-2, Llama) converted from its model folder carries its config.json, which is all \
                `run` needs:
                  sheaf run gpt2.sheaf --tokens 464,2068,318 --generate 20
                prints the 20 greedily generated token ids on one line (stopping early at the end-of-text token); \
                --output FILE.npy writes the last position's logits (float32, [vocab]).
                A checkpoint without a configuration runs with a named architecture: seed-mlp, mlp:20,256,10 \
                (Linear/ReLU with PyTorch's Sequential keys), resnet18 … resnet152 (torchvision):
                  sheaf run resnet18 --params resnet18.pt --input images.npy --output logits.npy
                --params takes any format convert reads, so a PyTorch checkpoint runs directly.
                """)

        @Argument(help: "A model file (Sheaf file or set index, or a Hugging Face folder), or an architecture name.")
        var model: String
        @Option(help: "Token ids for a language model, comma-separated.") var tokens: String?
        @Option(help: "Generate this many tokens greedily (with a KV cache) and print them.") var generate: Int?
        @Option(help: "The parameters of a named architecture (Sheaf, PyTorch, safetensors, NumPy, HDF5).") var params: String?
        @Option(help: "The input of a named architecture, a .npy file (or any single-tensor file).") var input: String?
        @Option(help: "Write the output here (.npy or any writable format): the logits of the last position for a language model.")
        var output: String?
        @Option(help: "auto (the first GPU, else the CPU; the CPU for language models and ResNets), cpu, or cuda:N.")
        var device: DeviceArgument = DeviceArgument(argument: "auto")!
        @Flag(help: "Replace --output if it exists (still atomically).") var force = false
        @OptionGroup var isolation: IsolationOptions

        func run() throws {
            if let output, !force, FileDescriptor.exists(output) {
                throw SheafError(.io, file: output, "output exists", remedy: .replace)
            }
            do {
                if let architecture = Architecture(argument: model) {
                    try runArchitecture(architecture)
                } else {
                    try runLanguageModel()
                }
            } catch let error as RuntimeError {
                printError(error.message)
                throw CommandFailure()
            } catch let error as ModelError {
                printError(error.message)
                throw CommandFailure()
            }
        }

        /// A named architecture on `--params` and `--input`.
        func runArchitecture(_ architecture: Architecture) throws {
            guard let params, let input else {
                throw ValidationError("\(architecture.name) needs --params (its weights) and --input")
            }
            guard tokens == nil, generate == nil else { throw ValidationError("--tokens and --generate are for language-model files") }
            // The CUDA backend covers the MLP operations; convolutions run on the CPU.
            let target: Device
            if case .resnet = architecture { target = device.device ?? .cpu } else { target = device.resolved }
            let paramsFile = try InputFile(params), inputFile = try InputFile(input)
            try isolation.preflight(paramsFile)
            try isolation.preflight(inputFile)
            let state = try paramsFile.reading { try Interchange.loadStateDict(path: $0) }
            let network = try architecture.load(state, origin: params)
            try network.to(target)
            let tensor = try inputFile.reading { path -> Tensor in
                let source = try Interchange.open(path: path)
                guard source.entries.count == 1 else {
                    throw SheafError(.invalidArgument, file: path, "the input must hold one tensor, found \(source.entries.count)")
                }
                return try source.tensor(at: 0)
            }
            if tensor.dtype != .float32 {
                printWarning("note: the input is \(tensor.dtype); the runtime computes in float32, so it is converted (exactly for float16, bfloat16 and small integers; float64 is rounded)")
            }
            let x = try NDArray(try tensor.converted(to: .float32), on: target)
            let y = try network(x)
            let result = try y.tensor()
            if let output {
                try write(result, to: output)
                print("ran \(architecture.name) on \(target): input \(x.shape) -> output \(y.shape), written to \(output)")
            } else {
                print(result)
            }
        }

        /// A language model file whose hf_config names its architecture.
        func runLanguageModel() throws {
            guard FileDescriptor.exists(model) else {
                throw ValidationError("'\(model)' is neither a model file nor an architecture (\(Architecture.allValueStrings.joined(separator: ", ")))")
            }
            guard let tokens else {
                throw ValidationError("a language model needs --tokens (comma-separated token ids); for a checkpoint without config.json, name its architecture")
            }
            var prompt: [Int] = []
            for part in tokens.split(separator: ",", omittingEmptySubsequences: false) {
                guard let id = Int(part.trimmingCharacters(in: .whitespaces)), id >= 0 else {
                    throw ValidationError("--tokens takes comma-separated non-negative integers, found '\(part)'")
                }
                prompt.append(id)
            }
            if let generate, generate < 0 { throw ValidationError("--generate must be 0 or more") }
            let file = try InputFile(model)
            try isolation.preflight(file)
            let state = try file.reading { try Interchange.loadStateDict(path: $0) }
            let language = try Architectures.causalLanguageModel(from: state, origin: model)
            let target = device.device ?? .cpu
            if let network = language as? Module { try network.to(target) }
            var logits: NDArray? = nil
            let generated = try language.generate(prompt: prompt, maxNewTokens: generate ?? 0, lastLogits: &logits)
            if generate != nil {
                print(generated.map(String.init).joined(separator: " "))
            } else if output == nil, let logits {
                print("next token: \(try logits.argmax()[0])")
            }
            if let output, let logits {
                try write(try logits.tensor(), to: output)
                printWarning("wrote the last position's logits [\(logits.count)] to \(output)")
            }
        }

        func write(_ result: Tensor, to output: String) throws {
            let format = InterchangeFormat.forExtension(of: output) ?? .npy
            var options = ExportOptions()
            options.replace = force
            _ = try Exporter.export(StateDictSource(result, name: "the output"), to: output, as: format, options: options)
        }
    }
}
