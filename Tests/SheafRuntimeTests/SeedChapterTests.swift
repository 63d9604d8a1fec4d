import Foundation
import Testing
import Sheaf
import SheafInterchange
@testable import SheafRuntime
import SheafTestSupport


// The seed chapter's layers, written as a user would write them.

final class CenteredLayer: Module {
    override func forward(_ x: NDArray) throws -> NDArray { try x - x.mean() }
}

final class MyLinear: Module {
    let weight: Parameter
    let bias: Parameter
    init(_ inUnits: Int, _ units: Int) {
        weight = Parameter(.randn([inUnits, units]))
        bias = Parameter(.randn([units]))
        super.init()
    }
    override func forward(_ x: NDArray) throws -> NDArray {
        try relu(x.matmul(weight.value) + bias.value)
    }
}

final class MLP: Module {
    let hidden = Linear(20, 256)
    let output = Linear(256, 10)
    override func forward(_ x: NDArray) throws -> NDArray {
        try output(relu(hidden(x)))
    }
}


/// The errors PyTorch gives for `seed_mlp_wrong.params` (a missing, an
/// unexpected and a mis-shaped key), in its words.
func expectSeedMLPWrongErrors(_ error: RuntimeError) {
    #expect(error.code == .loadStateDict)
    #expect(error.message.contains("Missing key(s) in state_dict: \"output.bias\"."))
    #expect(error.message.contains("Unexpected key(s) in state_dict: \"extra.weight\"."))
    #expect(error.message.contains("size mismatch for hidden.weight: copying a param with shape [128, 20] from checkpoint, the shape in current model is [256, 20]."))
}

/// Checks `net`'s output on the seed input against what PyTorch computed with
/// the float16 seed weights.
func expectFloat16SeedOutput(_ net: MLP) throws {
        let x = NDArray(try Interchange.open(path: fixturePath("interchange/torch/seed_mlp_input.npy")).tensor(at: 0))
        let expected = try Interchange.open(path: fixturePath("interchange/torch/seed_mlp_float16_output.npy")).tensor(at: 0).scalars(as: Float.self)
        let y = try net(x).scalars(as: Float.self)
        #expect(y.count == expected.count && !y.isEmpty)
        for (a, b) in zip(y, expected) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b))) }
}

@Suite("The seed chapter in Swift: custom layers, parameters, save and load")
struct SeedChapterTests {
    @Test("CenteredLayer subtracts the mean")
    func centered() throws {
        let layer = CenteredLayer()
        let y = try layer(NDArray(shape: [5], scalars: [1, 2, 3, 4, 5]))
        #expect(try y.scalars(as: Float.self) == [-2, -1, 0, 1, 2])
        #expect(y.description == "tensor([-2., -1., 0., 1., 2.])")
        let net = Sequential(Linear(8, 128), CenteredLayer())
        let mean = try net(NDArray.rand([4, 8])).mean().scalars(as: Float.self)[0]
        #expect(abs(mean) < 1e-6)
    }

    @Test("MyLinear has a [5, 3] weight and a ReLU output")
    func myLinear() throws {
        let linear = MyLinear(5, 3)
        #expect(linear.weight.shape == [5, 3])
        #expect(try linear.stateDict().keys == ["weight", "bias"])
        let y = try linear(NDArray.rand([2, 5]))
        #expect(y.shape == [2, 3])
        #expect(try y.scalars(as: Float.self).allSatisfy { $0 >= 0 })
        let net = Sequential(MyLinear(64, 8), MyLinear(8, 1))
        #expect(try net(NDArray.rand([2, 64])).shape == [2, 1])
        #expect(try net.stateDict().keys == ["0.weight", "0.bias", "1.weight", "1.bias"])
    }

    @Test("an MLP saved, cloned from code, loaded, and compared element for element")
    func cloneMLP() throws {
        let folder = try TemporaryFolder()
        let net = MLP()
        let x = NDArray.randn([2, 20])
        let y = try net(x)
        try net.stateDict().save(to: folder.file("mlp.params"))
        let clone = MLP()
        try clone.loadStateDict(StateDict(contentsOf: folder.file("mlp.params")))
        let yClone = try clone(x)
        #expect(try (yClone .== y).allTrue())
        #expect(clone.description == """
        MLP(
          (hidden): Linear(in_features=20, out_features=256, bias=True)
          (output): Linear(in_features=256, out_features=10, bias=True)
        )
        """)
        #expect(try net.stateDict().keys == ["hidden.weight", "hidden.bias", "output.weight", "output.bias"])
    }

    @Test("broadcasting, reductions, reshape and transpose")
    func ops() throws {
        let a = try NDArray(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let row = try NDArray(shape: [3], scalars: [10, 20, 30])
        let column = try NDArray(shape: [2, 1], scalars: [100, 200])
        #expect(try (a + row).scalars(as: Float.self) == [11, 22, 33, 14, 25, 36])
        #expect(try (a * column).scalars(as: Float.self) == [100, 200, 300, 800, 1000, 1200])
        #expect(try (a - 1).scalars(as: Float.self) == [0, 1, 2, 3, 4, 5])
        #expect(try (a / 2).scalars(as: Float.self) == [0.5, 1, 1.5, 2, 2.5, 3])
        #expect(try a.sum().scalars(as: Float.self) == [21])
        #expect(try a.mean(axis: 0).scalars(as: Float.self) == [2.5, 3.5, 4.5])
        #expect(try a.mean(axis: -1).scalars(as: Float.self) == [2, 5])
        #expect(try a.transposed().scalars(as: Float.self) == [1, 4, 2, 5, 3, 6])
        #expect(try a.reshaped([3, -1]).shape == [3, 2])
        #expect(try a.matmul(a.transposed()).scalars(as: Float.self) == [14, 32, 32, 77])
        #expect(throws: RuntimeError.self) { try a + NDArray(shape: [2], scalars: [1, 2]) }
        let d = NDArray(try Tensor(shape: [2], scalars: [1.0, 2.0]))
        #expect(try d.matmul(d).scalars(as: Double.self) == [5])
    }

    @Test("float16 and bfloat16 checkpoints load into a float32 model")
    func halfLoad() throws {
        let net = MLP()
        let half = try Interchange.loadStateDict(path: fixturePath("interchange/torch/seed_mlp_float16.params"))
        #expect(half["hidden.weight"]?.dtype == .float16)
        try net.loadStateDict(half)
        #expect(net.hidden.weight.value.dtype == .float32)
        try expectFloat16SeedOutput(net)
    }
}

@Suite("PyTorch parity on committed PyTorch fixtures")
struct PyTorchParityTests {
    func check(_ module: Module, params: String, input: String, output: String) throws {
        try module.loadStateDict(try Interchange.loadStateDict(path: fixturePath("interchange/torch/" + params)))
        let x = NDArray(try Interchange.open(path: fixturePath("interchange/torch/" + input)).tensor(at: 0))
        let expected = try Interchange.open(path: fixturePath("interchange/torch/" + output)).tensor(at: 0).scalars(as: Float.self)
        let y = try module(x).scalars(as: Float.self)
        #expect(y.count == expected.count && !y.isEmpty)
        for (a, b) in zip(y, expected) { #expect(abs(a - b) <= 1e-5 * max(abs(b), 1e-3), "\(a) vs \(b)") }
    }

    @Test("the seed MLP matches PyTorch's output")
    func seedMLP() throws { try check(MLP(), params: "seed_mlp.params", input: "seed_mlp_input.npy", output: "seed_mlp_output.npy") }

    @Test("a Sequential MLP with PyTorch's 0./2./4. keys matches PyTorch's output")
    func sequential() throws {
        let net = Sequential(Linear(20, 64), ReLU(), Linear(64, 32), ReLU(), Linear(32, 10))
        #expect(try net.stateDict().keys == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        try check(net, params: "sequential_mlp.pt", input: "sequential_mlp_input.npy", output: "sequential_mlp_output.npy")
    }

    @Test("strict loading reports missing, unexpected and mis-shaped keys in PyTorch's words")
    func strictErrors() throws {
        let wrong = try Interchange.loadStateDict(path: fixturePath("interchange/torch/seed_mlp_wrong.params"))
        let net = MLP()
        let before = try net.stateDict()
        do {
            try net.loadStateDict(wrong)
            Issue.record("expected an error")
        } catch let error as RuntimeError {
            expectSeedMLPWrongErrors(error)
        }
        #expect(try net.stateDict() == before, "a failed load changes nothing")
        var partial = StateDict()
        partial["hidden.weight"] = before["hidden.weight"]
        partial["bogus"] = Tensor(arange: 1)
        let (missing, unexpected) = try net.loadStateDict(partial, strict: false)
        #expect(missing == ["hidden.bias", "output.weight", "output.bias"])
        #expect(unexpected == ["bogus"])
        var misshaped = before
        misshaped["output.bias"] = try Tensor(zeros: [11])
        #expect(throws: RuntimeError.self) { try net.loadStateDict(misshaped, strict: false) }
    }
}

/// These describe a machine without a GPU; on a GPU host they are skipped
/// (`sheaf devices --check` and the GPU scripts cover that machine).
@Suite("Devices without a GPU", .enabled(if: Device.gpuCount == 0, "this machine has a GPU"))
struct DeviceTests {
    @Test("tryGPU falls back to the CPU and tryAllGPUs to [cpu]")
    func fallback() throws {
        #expect(Device.tryGPU() == .cpu)
        #expect(Device.tryGPU(10) == .cpu)
        #expect(Device.tryAllGPUs() == [.cpu])
        #expect(Device.cuda(0).description == "cuda:0")
        #expect(Device("cuda:1") == .cuda(1) && Device("cpu") == .cpu && Device("gpu") == nil)
    }

    @Test("asking for cuda:0 without a GPU is a clear error")
    func noGPU() throws {
        let x = NDArray.zeros([2])
        #expect(try x.to(.cpu) === x)
        do {
            _ = try x.to(.cuda(0))
            Issue.record("expected an error")
        } catch let error as RuntimeError {
            #expect(error.code == .deviceUnavailable)
            #expect(error.message.contains("cuda:0 is not available"))
        }
    }

    @Test("the loader reports missing libraries and never crashes")
    func loader() {
        let missing = CUDA.load(driver: ["/nonexistent/libcuda.so.1"], cublas: ["/nonexistent/libcublas.so.12"])
        guard case .failure(let error) = missing else { Issue.record("loaded a library that does not exist"); return }
        #expect(error.description.contains("/nonexistent/libcuda.so.1"))
        // A real library without the driver's symbols: the missing symbol is named.
        let wrong = CUDA.load(driver: ["libz.so.1"], cublas: ["libz.so.1"])
        guard case .failure(let symbolError) = wrong else { Issue.record("libz loaded as CUDA"); return }
        #expect(symbolError.description.contains("cuInit"))
    }

    @Test("arrays on different devices never mix")
    func mixing() throws {
        // No GPU array can exist here: check the guard itself with a GPU device.
        do {
            try NDArray.requireSameDevice(.cpu, .cuda(0), "add")
            Issue.record("expected an error")
        } catch let error as RuntimeError {
            #expect(error.code == .deviceMismatch)
            #expect(error.message.contains("cpu") && error.message.contains("cuda:0"))
        }
    }

    @Test("the PTX names every kernel the loader looks up")
    func ptx() {
        for name in Kernels.names { #expect(Kernels.ptx.contains(".entry \(name)(")) }
        #expect(Kernels.ptx.hasPrefix(".version 7.0\n.target sm_50"))
    }
}
