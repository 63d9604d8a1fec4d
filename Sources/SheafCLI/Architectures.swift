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
        if case .resnet(let depth) = self { return try ResNet.load(depth, state, origin: origin) }
        let model = try make()
        try model.loadStateDict(state)
        return model
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
