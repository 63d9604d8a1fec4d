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
        #expect(arch.status == 2 && arch.stderr.contains("'resnet' is invalid") && arch.stderr.contains("seed-mlp"), "\(arch.stderr)")
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
                         "tryGPU(), tryGPU(10), tryAllGPUs()", "Tour complete"] {
            #expect(result.stdout.contains(expected), "tour output lacks \(expected)")
        }
        #expect(!result.stdout.contains("False"))
        #expect(tourFolders().subtracting(before).isEmpty)
    }
}
