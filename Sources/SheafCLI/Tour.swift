import ArgumentParser
import Foundation
import Sheaf
import SheafModels
import SheafRuntime

extension SheafCommand {
    struct Tour: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay the seed chapter in Swift: custom layers, saving and loading, devices.",
            discussion: "Runs in a temporary folder, which it removes at the end.")

        @Option(help: "Seed for the random initialisation.") var seed: UInt64 = 0

        func run() throws {
            RandomSource.manualSeed(seed)
            let folder = FileManager.default.temporaryDirectory.path + "/sheaf-tour-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            func file(_ name: String) -> String { folder + "/" + name }
            func step(_ title: String) { print("\n== \(title)") }
            func show(_ code: String, _ result: Any) { print(">>> \(code)\n\(result)") }

            step("Custom layers: a layer without parameters")
            let layer = CenteredLayer()
            show("layer(tensor([1, 2, 3, 4, 5]))", try layer(NDArray(shape: [5], scalars: [1, 2, 3, 4, 5])))
            let centered = Sequential(Linear(8, 128), CenteredLayer())
            show("Sequential(Linear(8, 128), CenteredLayer())(rand(4, 8)).mean()", try centered(NDArray.rand([4, 8])).mean())

            step("Custom layers: a layer with parameters")
            let linear = MyLinear(5, 3)
            show("MyLinear(5, 3).weight", "Parameter containing:\n\(linear.weight.value)")
            show("linear(rand(2, 5))", try linear(NDArray.rand([2, 5])))
            let stacked = Sequential(MyLinear(64, 8), MyLinear(8, 1))
            show("Sequential(MyLinear(64, 8), MyLinear(8, 1))(rand(2, 64))", try stacked(NDArray.rand([2, 64])))

            step("Saving and loading tensors")
            let x = Tensor(arange: 4)
            try x.save(to: file("x-file"))
            show("x = arange(4); x.save(to: \"x-file\"); Tensor(contentsOf: \"x-file\")", try Tensor(contentsOf: file("x-file")))
            let y = try Tensor(zeros: [4])
            try [x, y].save(to: file("x-files"))
            let xs = try [Tensor](contentsOf: file("x-files"))
            show("[x, y].save(to: \"x-files\"); [Tensor](contentsOf: \"x-files\")", "(\(xs[0]), \(xs[1]))")
            var mydict = StateDict()
            mydict["x"] = x
            mydict["y"] = y
            try mydict.save(to: file("mydict"))
            let loaded = try StateDict(contentsOf: file("mydict"))
            show("StateDict(contentsOf: \"mydict\")", "{" + loaded.map { "'\($0.key)': \($0.tensor)" }.joined(separator: ", ") + "}")

            step("Saving and loading model parameters")
            let net = SeedMLP()
            let X = NDArray.randn([2, 20])
            let Y = try net(X)
            try net.stateDict().save(to: file("mlp.params"))
            let clone = SeedMLP()
            try clone.loadStateDict(StateDict(contentsOf: file("mlp.params")))
            show("clone", clone)
            let yClone = try clone(X)
            show("Y_clone", yClone)
            let same = try yClone .== Y
            show("Y_clone == Y", same)
            guard try same.allTrue() else { throw RuntimeError(.loadStateDict, "the clone's output differs from the original's") }
            let verified = SheafFile.verify(path: file("mlp.params"))
            show("sheaf verify mlp.params", verified.isEmpty ? "OK" : verified.map(\.description).joined(separator: "\n"))

            step("Devices")
            show("tryGPU(), tryGPU(10), tryAllGPUs()", "(\(Device.tryGPU()), \(Device.tryGPU(10)), \(Device.tryAllGPUs()))")
            if let reason = Device.gpuUnavailableReason { print("(no GPU: \(reason))") }
            let device = Device.tryGPU()
            let a = try NDArray.ones([2, 3], on: device)
            show("X = ones(2, 3, device: tryGPU())", a)
            show("X.device", a.device)
            show("X.to(X.device) === X", try a.to(a.device) === a)
            let gpus = Device.tryAllGPUs()
            if gpus.count > 1 {
                let z = try a.to(gpus[1])
                show("Z = X.to(cuda:1); Z.to(cuda:1) === Z", try z.to(gpus[1]) === z)
                do { _ = try a + z } catch { show("X + Z", "error: \(error)") }
            } else {
                let b = try NDArray.rand([2, 3], on: device)
                show("Y = rand(2, 3); X + Y", try a + b)
            }

            step("Neural networks and devices")
            let small = Sequential(Linear(3, 1))
            try small.to(device)
            show("net = Sequential(Linear(3, 1)).to(tryGPU()); net(X)", try small(a))
            if let first = small[0] as? Linear { show("net[0].weight.device", first.weight.device) }
            if device != .cpu {
                let cpuOut = try clone(X)
                try clone.to(device)
                let gpuOut = try clone(try X.to(device)).to(.cpu)
                let difference = try (gpuOut - cpuOut).tensor().scalars(as: Float.self).map(abs).max() ?? 0
                show("the cloned MLP on \(device) vs on the CPU: max |difference|", difference)
            }
            step("Beyond the chapter: a language model whose configuration travels with its weights")
            let config = #"{"model_type": "gpt2", "vocab_size": 64, "n_positions": 32, "n_embd": 16, "n_layer": 2, "n_head": 2}"#
            let gpt2 = GPT2LMHeadModel(try GPT2Configuration(try ModelConfiguration(json: config)))
            var weights = try gpt2.stateDict()
            var generator = SeededGenerator(seed: 7)
            for (key, tensor) in weights where tensor.dtype == .float32 && !key.hasSuffix("lm_head.weight") {
                weights[key] = try (NDArray(try Tensor(randomNormal: tensor.shape, using: &generator)) * 0.5).tensor()
            }
            weights["lm_head.weight"] = nil
            weights.metadata["hf_config"] = .string(config)
            try weights.save(to: file("tiny-gpt2.sheaf"))
            let language = try Architectures.causalLanguageModel(from: try StateDict(contentsOf: file("tiny-gpt2.sheaf")), origin: "tiny-gpt2.sheaf")
            show("Architectures.causalLanguageModel(from: StateDict(contentsOf: \"tiny-gpt2.sheaf\"))", "\(type(of: language)), built from its hf_config metadata")
            show("generate(prompt: [1, 2, 3], maxNewTokens: 8)   (greedy, KV cache)", try language.generate(prompt: [1, 2, 3], maxNewTokens: 8, stopTokens: []))
            print("(the same from the shell: sheaf run tiny-gpt2.sheaf --tokens 1,2,3 --generate 8)")
            print("\nTour complete; the temporary folder is removed.")
        }
    }
}
