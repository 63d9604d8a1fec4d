import Glibc
import Testing
import Sheaf
@testable import SheafRuntime
import SheafTestSupport

// Layers as users write them: arrays and dictionaries of modules, renamed
// properties, non-persistent buffers, tied weights.

final class Block: Module {
    let norm = LayerNorm(4)
    @ModuleInfo(key: "c_fc") var expand: Linear
    override init() {
        _expand.wrappedValue = Linear(4, 8)
        super.init()
    }
}

final class Stack: Module {
    let blocks = [Block(), Block()]
    let heads: [String: Linear] = ["value": Linear(4, 1), "policy": Linear(4, 2)]
    let scale = Parameter(.zeros([1]))
    let cache = Buffer(.zeros([3]), persistent: false)
    let optional: Linear? = nil
    let width = 4
    let names = ["a", "b"]
}

/// A head that shares the embedding's Parameter object (GPT-2's tied `lm_head`).
final class SharedHead: Module {
    let weight: Parameter
    init(_ weight: Parameter) { self.weight = weight; super.init() }
}

final class Shares: Module {
    let embed: Embedding
    let lmHead: SharedHead
    override init() { embed = Embedding(5, 3); lmHead = SharedHead(embed.weight); super.init() }
}

final class HoldsArray: Module {
    let table = NDArray.zeros([2])
}

final class HoldsTuple: Module {
    let pair = (Linear(1, 1), 3)
}

@Suite("Module foundation: discovery, renames, reshape, devices")
struct ModuleFoundationTests {
    @Test("arrays, string-keyed dictionaries (sorted), renames and optionals name keys as PyTorch does")
    func keys() throws {
        let keys = try Stack().stateDict().keys
        #expect(Array(keys) == [
            "blocks.0.norm.weight", "blocks.0.norm.bias", "blocks.0.c_fc.weight", "blocks.0.c_fc.bias",
            "blocks.1.norm.weight", "blocks.1.norm.bias", "blocks.1.c_fc.weight", "blocks.1.c_fc.bias",
            "heads.policy.weight", "heads.policy.bias", "heads.value.weight", "heads.value.bias",
            "scale",
        ])
        // The non-persistent buffer is moved and listed, but not saved.
        #expect(try Stack().namedTensors().map(\.0).contains("cache"))
    }

    @Test("a property holding arrays the state dict cannot name is an error, not skipped")
    func unregistered() throws {
        #expect { try HoldsArray().stateDict() } throws: { error in
            let error = error as? RuntimeError
            return error?.code == .unregisteredProperty && error!.message.contains("HoldsArray.table holds an NDArray")
        }
        #expect { try HoldsTuple().loadStateDict(StateDict()) } throws: { error in
            (error as? RuntimeError)?.message.contains("HoldsTuple.pair") == true
        }
    }

    @Test("reshaped arrays report and save their new shape (one source of truth)")
    func reshape() throws {
        let a = try NDArray(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = try a.reshaped([3, 2])
        #expect(b.shape == [3, 2])
        #expect(try b.tensor().shape == [3, 2])
        #expect(b.description == "tensor([[1., 2.],\n        [3., 4.],\n        [5., 6.]])")
        let layer = Linear(3, 2)
        layer.weight.value = try layer.weight.value.reshaped([3, 2])
        #expect(try layer.stateDict()["weight"]?.shape == [3, 2])
        #expect(try a.reshaped([-1]).shape == [6])
        #expect(throws: RuntimeError.self) { try a.reshaped([4, -1]) }
        #expect(throws: RuntimeError.self) { try a.reshaped([-1, -1]) }
    }

    @Test("a parameter shared under two keys loads from either and is saved tied")
    func tied() throws {
        let state = try Shares().stateDict()
        #expect(Array(state.keys) == ["embed.weight", "lmHead.weight"])
        #expect(state["embed.weight"]!.sharesStorage(with: state["lmHead.weight"]!))
        // A checkpoint without the duplicate: loading through one key fills both.
        let target = Shares()
        var only = StateDict()
        let values = try Tensor(shape: [5, 3], scalars: (0..<15).map { Float($0) })
        only["embed.weight"] = values
        try target.loadStateDict(only)
        #expect(try target.lmHead.weight.value.tensor() == values)
        let saved = try target.stateDict()
        #expect(Array(saved.keys) == ["embed.weight", "lmHead.weight"])
        #expect(saved["embed.weight"]!.sharesStorage(with: saved["lmHead.weight"]!))
        // Both keys with different values: refused.
        var both = only
        both["lmHead.weight"] = state["lmHead.weight"]
        #expect { try target.loadStateDict(both) } throws: { error in
            (error as? RuntimeError)?.message.contains("tied parameters embed.weight and lmHead.weight differ") == true
        }
    }

    @Test("BatchNorm2d has PyTorch's keys, num_batches_tracked included")
    func batchNormKeys() throws {
        #expect(Array(try BatchNorm2d(3).stateDict().keys) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
        #expect(try BatchNorm2d(3).stateDict()["num_batches_tracked"]?.dtype == .int64)
    }

    @Test("operations a device lacks, wrong shapes and bad ids are thrown errors")
    func errors() throws {
        let x = NDArray.rand([1, 2, 5, 5])
        #expect(throws: RuntimeError.self) { try x.conv2d(weight: .rand([4, 3, 3, 3]), bias: nil) }
        #expect(throws: RuntimeError.self) { try x.conv2d(weight: .rand([4, 2, 7, 7]), bias: nil) }
        #expect(throws: RuntimeError.self) { try NDArray.embedding(.rand([4, 2]), ids: [4], shape: [1]) }
        #expect(throws: RuntimeError.self) { try NDArray.attention(query: .rand([1, 3, 2, 4]), key: .rand([1, 2, 2, 4]), value: .rand([1, 2, 2, 4])) }
        #expect(throws: RuntimeError.self) { try x.layerNorm(weight: .rand([4]), bias: nil) }
        #expect(throws: RuntimeError.self) { try NDArray(Tensor(zeros: [2], dtype: .float16)).softmax() }
    }
}

@Suite("Fused and layered operations agree")
struct FusedOperationTests {
    static func maxDifference(_ a: NDArray, _ b: NDArray) throws -> Float {
        let x = try a.scalars(as: Float.self), y = try b.scalars(as: Float.self)
        #expect(x.count == y.count)
        return zip(x, y).map { abs($0 - $1) }.max() ?? 0
    }

    @Test("conv + batch norm + residual + ReLU in one pass equals the separate layers, and follows reloaded weights")
    func fusedConvolution() throws {
        RandomSource.manualSeed(7)
        for (stride, batch) in [(1, 1), (2, 3)] {
            let conv = Conv2d(4, 6, kernel: (3, 3), stride: (stride, stride), padding: (1, 1))
            let bn = BatchNorm2d(6)
            bn.runningMean.value = NDArray.randn([6])
            bn.runningVariance.value = try NDArray.rand([6]) + 0.5
            bn.weight.value = NDArray.randn([6])
            bn.bias.value = NDArray.randn([6])
            let x = NDArray.randn([batch, 4, 9, 9])
            let layered = try bn(conv(x))
            let residual = NDArray.randn(layered.shape)
            let expected = try (layered + residual).relu()
            #expect(try Self.maxDifference(conv(x, batchNorm: bn, residual: residual, relu: true), expected) <= 1e-5)
            #expect(try Self.maxDifference(conv(x, batchNorm: bn), layered) <= 1e-5)
            // New statistics: the folded weights are recomputed.
            bn.runningMean.value = NDArray.randn([6])
            #expect(try Self.maxDifference(conv(x, batchNorm: bn), bn(conv(x))) <= 1e-5)
        }
    }

    @Test("softmax with a causal offset, layer norm and GELU against direct formulas")
    func formulas() throws {
        let x = try NDArray(shape: [2, 3], scalars: [1, 2, 3, 0, 0, 0])
        let causal = try x.softmax(causalOffset: 0).scalars(as: Float.self)
        #expect(abs(causal[0] - 1) < 1e-6 && causal[1] == 0 && causal[2] == 0)
        #expect(abs(causal[3] - 0.5) < 1e-6 && abs(causal[4] - 0.5) < 1e-6 && causal[5] == 0)
        let full = try x.softmax().scalars(as: Float.self)
        let e = [Float(1), 2, 3].map { expf($0 - 3) }
        for i in 0..<3 { #expect(abs(full[i] - e[i] / e.reduce(0, +)) < 1e-6) }
        let normed = try x.layerNorm(weight: nil, bias: nil).scalars(as: Float.self)
        #expect(abs(normed[0] + 1.2247356) < 1e-5 && abs(normed[2] - 1.2247356) < 1e-5 && normed[3] == 0)
        let g = try NDArray(shape: [2], scalars: [1, -2])
        let exact = try g.gelu().scalars(as: Float.self), tanh = try g.gelu(approximate: true).scalars(as: Float.self)
        #expect(abs(exact[0] - 0.8413447) < 1e-6 && abs(exact[1] + 0.04550026) < 1e-6)
        #expect(abs(tanh[0] - 0.8411920) < 1e-6 && abs(tanh[1] + 0.04540231) < 1e-6)
        let batched = try NDArray.randn([3, 2, 4]).matmul(NDArray.randn([4, 5]))
        #expect(batched.shape == [3, 2, 5])
    }
}
