import ArgumentParser
import Foundation
import Sheaf
import SheafInterchange
import SheafRuntime

extension SheafCommand {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a code-defined architecture with parameters from any readable file on an input.",
            discussion: "Architectures: seed-mlp (the seed chapter's MLP) and mlp:20,256,10 (Linear/ReLU layers with PyTorch's Sequential keys). --params takes any format convert reads, so a PyTorch checkpoint runs directly.")

        @Argument(help: "The architecture: seed-mlp or mlp:SIZES.") var architecture: Architecture
        @Option(help: "The parameters (Sheaf, PyTorch, safetensors, NumPy, HDF5).") var params: String
        @Option(help: "The input, a .npy file (or any single-tensor file).") var input: String
        @Option(help: "Write the output here (.npy or any writable format).") var output: String?
        @Option(help: "auto (the first GPU, else the CPU), cpu, or cuda:N.") var device: DeviceArgument = DeviceArgument(argument: "auto")!
        @Flag(help: "Replace --output if it exists (still atomically).") var force = false
        @OptionGroup var isolation: IsolationOptions

        /// The architecture as given, for messages.
        var name: String {
            switch architecture {
            case .seedMLP: "seed-mlp"
            case .mlp(let sizes): "mlp:" + sizes.map(String.init).joined(separator: ",")
            }
        }

        func run() throws {
            if let output, !force, FileDescriptor.exists(output) {
                throw SheafError(.io, file: output, "output exists", remedy: .replace)
            }
            let target = device.resolved
            let model = try architecture.make()
            let paramsFile = try InputFile(params), inputFile = try InputFile(input)
            try isolation.preflight(paramsFile)
            try isolation.preflight(inputFile)
            let state = try paramsFile.reading { try Interchange.loadStateDict(path: $0) }
            do {
                try model.loadStateDict(state)
                try model.to(target)
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
                let y = try model(x)
                let result = try y.tensor()
                if let output {
                    let format = InterchangeFormat.forExtension(of: output) ?? .npy
                    var options = ExportOptions()
                    options.replace = force
                    _ = try Exporter.export(StateDictSource(result, name: "the output"), to: output, as: format, options: options)
                    print("ran \(name) on \(target): input \(x.shape) -> output \(y.shape), written to \(output)")
                } else {
                    print(result)
                }
            } catch let error as RuntimeError {
                printError(error.message)
                throw CommandFailure()
            }
        }
    }
}
