import Foundation
import Testing
import Sheaf
import SheafInterchange

@Suite("sheaf run and sheaf tour")
struct RunCommandTests {
    @Test("a PyTorch checkpoint runs directly and matches PyTorch's output")
    func runSeedMLP() throws {
        let folder = try TemporaryFolder()
        let torch = fixturePath("interchange/torch/")
        let result = try sheaf("run", "seed-mlp", "--params", torch + "seed_mlp.params", "--input", torch + "seed_mlp_input.npy",
                               "--output", folder.file("y.npy"), "--device", "cpu")
        #expect(result.status == 0, "\(result.stderr)")
        let y = try Interchange.open(path: folder.file("y.npy")).tensor(at: 0).scalars(as: Float.self)
        let expected = try Interchange.open(path: torch + "seed_mlp_output.npy").tensor(at: 0).scalars(as: Float.self)
        #expect(y.count == expected.count && !y.isEmpty)
        for (a, b) in zip(y, expected) { #expect(abs(a - b) <= 1e-5 * max(abs(b), 1e-3)) }
        // An existing output is kept unless --force, as convert does.
        let again = try sheaf("run", "seed-mlp", "--params", torch + "seed_mlp.params", "--input", torch + "seed_mlp_input.npy",
                              "--output", folder.file("y.npy"), "--device", "cpu")
        #expect(again.status == 1 && again.stderr.contains("--force"), "\(again.stderr)")
        #expect(try sheaf("run", "seed-mlp", "--params", torch + "seed_mlp.params", "--input", torch + "seed_mlp_input.npy",
                          "--output", folder.file("y.npy"), "--device", "cpu", "--force").status == 0)
        // The same parameters converted to Sheaf run the same.
        #expect(try sheaf("convert", torch + "sequential_mlp.pt", folder.file("seq.sheaf")).status == 0)
        let sequential = try sheaf("run", "mlp:20,64,32,10", "--params", folder.file("seq.sheaf"), "--input", torch + "sequential_mlp_input.npy")
        #expect(sequential.status == 0, "\(sequential.stderr)")
        #expect(sequential.stdout.hasPrefix("tensor([["))
    }

    @Test("load errors are printed as they are, and a missing GPU is a clear error")
    func runErrors() throws {
        let torch = fixturePath("interchange/torch/")
        let wrong = try sheaf("run", "seed-mlp", "--params", torch + "seed_mlp_wrong.params", "--input", torch + "seed_mlp_input.npy")
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("size mismatch for hidden.weight: copying a param with shape [128, 20] from checkpoint, the shape in current model is [256, 20]."))
        #expect(wrong.stderr.contains("Missing key(s) in state_dict: \"output.bias\"."))
        let arch = try sheaf("run", "resnet", "--params", torch + "seed_mlp.params", "--input", torch + "seed_mlp_input.npy")
        #expect(arch.status == 2 && arch.stderr.contains("'resnet' is neither a model file nor an architecture") && arch.stderr.contains("seed-mlp, "), "\(arch.stderr)")
        // Sizes from the command line are checked against the checkpoint before anything is allocated.
        let huge = try sheaf("run", "mlp:99999999999,99999999999", "--params", torch + "seed_mlp.params", "--input", torch + "seed_mlp_input.npy")
        #expect(huge.status == 1 && huge.stderr.contains("Missing key(s) in state_dict: \"0.weight\"."), "\(huge.stderr)")
        // Without a GPU: a clear error. With one: PyTorch's output, computed on the GPU.
        let folder = try TemporaryFolder()
        let gpu = try sheaf("run", "seed-mlp", "--params", torch + "seed_mlp.params", "--input", torch + "seed_mlp_input.npy",
                            "--device", "cuda:0", "--output", folder.file("y.npy"))
        if gpu.status == 0 {
            #expect(gpu.stdout.contains("on cuda:0"), "\(gpu.stdout)")
            let y = try Interchange.open(path: folder.file("y.npy")).tensor(at: 0).scalars(as: Float.self)
            let expected = try Interchange.open(path: torch + "seed_mlp_output.npy").tensor(at: 0).scalars(as: Float.self)
            #expect(y.count == expected.count && !y.isEmpty)
            for (a, b) in zip(y, expected) { #expect(abs(a - b) <= 1e-4 * max(abs(b), 1e-3)) }
        } else {
            #expect(gpu.status == 1)
            #expect(gpu.stderr.contains("cuda:0 is not available"), "\(gpu.stderr)")
        }
    }

    @Test("a converted Hugging Face folder runs from its own config: generation and logits match transformers")
    func runLanguageModels() throws {
        let folder = try TemporaryFolder()
        #expect(try sheaf("convert", fixturePath("models/gpt2"), folder.file("gpt2.sheaf")).status == 0)
        struct Reference: Decodable { let prompt: [[Int]]; let generated: [[Int]] }
        for model in ["gpt2", "llama"] {
            let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: fixturePath("models/\(model)/reference.json"))))
            let input = model == "gpt2" ? folder.file("gpt2.sheaf") : fixturePath("models/llama")
            let tokens = reference.prompt[0].map(String.init).joined(separator: ",")
            let run = try sheaf("run", input, "--tokens", tokens, "--generate", "20", "--device", "cpu")
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout == reference.generated[0].map(String.init).joined(separator: " ") + "\n", "\(model): \(run.stdout)")
            // Without --generate: the prompt's last-position logits, as transformers computed them.
            let logits = folder.file("\(model)-last.npy")
            #expect(try sheaf("run", input, "--tokens", tokens, "--output", logits).status == 0)
            let values = try Interchange.open(path: logits).tensor(at: 0)
            let expected = try Interchange.open(path: fixturePath("models/\(model)/reference_logits.npy")).tensor(at: 0)
            let vocabulary = expected.shape[2], length = expected.shape[1]
            #expect(values.shape == [vocabulary])
            let row = Array(try expected.scalars(as: Float.self)[((length - 1) * vocabulary)..<(length * vocabulary)])
            let scale = row.map { abs($0) }.max() ?? 1
            for (a, b) in zip(try values.scalars(as: Float.self), row) { #expect(abs(a - b) <= 1e-4 * scale) }
        }
        // Errors: a token outside the vocabulary, a file without a configuration, no --tokens.
        let outside = try sheaf("run", folder.file("gpt2.sheaf"), "--tokens", "5,128")
        #expect(outside.status == 1 && outside.stderr.contains("token id 128 is outside the vocabulary of 128"), "\(outside.stderr)")
        #expect(try sheaf("convert", fixturePath("models/gpt2/pytorch_model.bin"), folder.file("bare.sheaf")).status == 0)
        let bare = try sheaf("run", folder.file("bare.sheaf"), "--tokens", "5")
        #expect(bare.status == 1 && bare.stderr.contains("no hf_config metadata"), "\(bare.stderr)")
        let noTokens = try sheaf("run", folder.file("gpt2.sheaf"))
        #expect(noTokens.status == 2 && noTokens.stderr.contains("needs --tokens"), "\(noTokens.stderr)")
    }

    @Test("a torchvision ResNet-18 state dict runs on images and matches torchvision")
    func runResNet() throws {
        let folder = try TemporaryFolder()
        try ResNetFixtureWeights.resnetStateDict("resnet18").save(to: folder.file("resnet18.sheaf"))
        let run = try sheaf("run", "resnet18", "--params", folder.file("resnet18.sheaf"), "--input", fixturePath("models/resnet/images.npy"),
                            "--output", folder.file("logits.npy"))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("ran resnet18 on cpu: input [2, 3, 64, 64] -> output [2, 1000]"), "\(run.stdout)")
        let values = try Interchange.open(path: folder.file("logits.npy")).tensor(at: 0).scalars(as: Float.self)
        let expected = try Interchange.open(path: fixturePath("models/resnet/resnet18_logits.npy")).tensor(at: 0).scalars(as: Float.self)
        let scale = expected.map { abs($0) }.max() ?? 1
        #expect(values.count == expected.count)
        for (a, b) in zip(values, expected) { #expect(abs(a - b) <= 1e-4 * scale) }
        // ResNet-50 weights given as resnet18: named, exit 1.
        try ResNetFixtureWeights.resnetStateDict("resnet50").save(to: folder.file("resnet50.sheaf"))
        let wrong = try sheaf("run", "resnet18", "--params", folder.file("resnet50.sheaf"), "--input", fixturePath("models/resnet/images.npy"))
        #expect(wrong.status == 1 && wrong.stderr.contains("not a torchvision resnet18 state dict"), "\(wrong.stderr)")
    }

    @Test("the tour replays the chapter and cleans up after itself")
    func tour() throws {
        let temporary = FileManager.default.temporaryDirectory.path
        func tourFolders() -> Set<String> {
            Set(((try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []).filter { $0.hasPrefix("sheaf-tour-") })
        }
        let before = tourFolders()
        let result = try sheaf("tour")
        #expect(result.status == 0, "\(result.stderr)")
        for expected in ["tensor([-2., -1., 0., 1., 2.])", "tensor([0, 1, 2, 3])", "Y_clone == Y", "(hidden): Linear(in_features=20, out_features=256, bias=True)",
                         "tryGPU(), tryGPU(10), tryAllGPUs()", "GPT2LMHeadModel, built from its hf_config metadata", "Tour complete"] {
            #expect(result.stdout.contains(expected), "tour output lacks \(expected)")
        }
        #expect(!result.stdout.contains("False"))
        #expect(tourFolders().subtracting(before).isEmpty)
    }
}
