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

        @Argument(help: "The architecture: seed-mlp or mlp:SIZES.") var architecture: String
        @Option(help: "The parameters (Sheaf, PyTorch, safetensors, NumPy, HDF5).") var params: String
        @Option(help: "The input, a .npy file (or any single-tensor file).") var input: String
        @Option(help: "Write the output here (.npy or any writable format).") var output: String?
        @Option(help: "auto (the first GPU, else the CPU), cpu, or cuda:N.") var device: String = "auto"
        @OptionGroup var isolation: IsolationOptions

        func validate() throws {
            guard device == "auto" || Device(device) != nil else { throw ValidationError("--device must be auto, cpu or cuda:N, got '\(device)'") }
        }

        func run() throws {
            let target = device == "auto" ? Device.tryGPU() : Device(device)!
            let model: Module
            do { model = try Architecture.make(architecture) } catch let error as RuntimeError {
                throw ValidationError(error.message)
            }
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
                let x = try NDArray(try tensor.converted(to: .float32), on: target)
                let y = try model(x)
                let result = try y.tensor()
                if let output {
                    let format = InterchangeFormat.forExtension(of: output) ?? .npy
                    let folder = FileManager.default.temporaryDirectory.path + "/sheaf-run-\(getpid())"
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                    defer { try? FileManager.default.removeItem(atPath: folder) }
                    let staged = folder + "/y.sheaf"
                    try result.save(to: staged)
                    var options = ExportOptions()
                    options.replace = true
                    _ = try Exporter.export(try Interchange.open(path: staged), to: output, as: format, options: options)
                    print("ran \(architecture) on \(target): input \(x.shape) -> output \(y.shape), written to \(output)")
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
