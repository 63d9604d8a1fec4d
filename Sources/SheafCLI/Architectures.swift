import Sheaf
import SheafModels
import SheafRuntime

/// The seed chapter's MLP: `hidden` Linear(20, 256), ReLU, `output` Linear(256, 10).
final class SeedMLP: Module {
    let hidden = Linear(20, 256)
    let output = Linear(256, 10)


    override func forward(_ x: NDArray) throws -> NDArray { try output(relu(hidden(x))) }
}

/// The seed chapter's parameter-free layer.
final class CenteredLayer: Module {
    override func forward(_ x: NDArray) throws -> NDArray { try x - x.mean() }
}

/// The seed chapter's layer with its own weight `[in, units]` and bias.
final class MyLinear: Module {
    let weight: Parameter
    let bias: Parameter

    init(_ inUnits: Int, _ units: Int) {
        weight = Parameter(.randn([inUnits, units]))
        bias = Parameter(.randn([units]))
        super.init()
    }

    override func forward(_ x: NDArray) throws -> NDArray { try relu(x.matmul(weight.value) + bias.value) }
}

/// Architectures `sheaf run` knows by name (a checkpoint that carries no configuration).
enum Architecture {
    /// `seed-mlp`: the seed chapter's MLP.
    case seedMLP
    /// `mlp:20,256,10`: a Sequential of Linear/ReLU layers, keys `0.`, `2.`, ….
    case mlp([Int])
    /// `resnet18` … `resnet152`: torchvision's ResNets (the class count from `fc.weight`).
    case resnet(ResNet.Depth)

    /// The name as given on the command line.
    var name: String {
        switch self {
        case .seedMLP: "seed-mlp"
        case .mlp(let sizes): "mlp:" + sizes.map(String.init).joined(separator: ",")
        case .resnet(let depth): depth.rawValue
        }
    }

    /// The model with `state` loaded (strictly).
    func load(_ state: StateDict, origin: String) throws -> Module {
        switch self {
        case .resnet(let depth): return try ResNet.load(depth, state, origin: origin)
        case .mlp(let sizes): try Self.checkShapes(sizes, state)
        case .seedMLP: break
        }
        let model = try make()
        try model.loadStateDict(state)
        return model
    }

    /// The sizes come from the command line: before a layer is made, each weight
    /// must be in the checkpoint with the shape they imply, so no size that the
    /// checkpoint does not back is ever allocated.
    static func checkShapes(_ sizes: [Int], _ state: StateDict) throws {
        var problems: [String] = []
        for i in 0..<(sizes.count - 1) {
            let key = "\(2 * i).weight", expected = [sizes[i + 1], sizes[i]]
            guard let tensor = state[key] else { problems.append("Missing key(s) in state_dict: \"\(key)\"."); continue }
            if tensor.shape != expected {
                problems.append("size mismatch for \(key): copying a param with shape \(tensor.shape) from checkpoint, the shape in current model is \(expected).")
            }
        }
        guard problems.isEmpty else {
            throw RuntimeError(.loadStateDict, "Error(s) in loading state_dict for Sequential:\n\t" + problems.joined(separator: "\n\t"))
        }
    }

    /// A fresh model of this architecture.
    func make() throws -> Module {
        switch self {
        case .seedMLP: return SeedMLP()
        case .resnet(let depth): return ResNet(depth)
        case .mlp(let sizes):
            var layers: [Module] = []
            for i in 0..<(sizes.count - 1) {
                if i > 0 { layers.append(ReLU()) }
                layers.append(Linear(sizes[i], sizes[i + 1]))
            }
            return Sequential(layers: layers)
        }
    }
}
