import Sheaf

/// `y = x · weightᵀ + bias` over the last axis, with `weight` of shape
/// `[out, in]` as PyTorch's `nn.Linear` stores it, initialised from PyTorch's
/// default distribution (uniform in ±1/√in for weight and bias) on the CPU.
public final class Linear: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let inFeatures: Int
    public let outFeatures: Int

    /// A layer on the CPU (move it with ``Module/to(_:)``). Never throws; a
    /// negative size is a programming error. `.zeros` skips the random draw for
    /// a layer whose weights are loaded next.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, initialization: Initialization = .pytorchDefault) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = inFeatures > 0 ? 1 / Double(inFeatures).squareRoot() : 0
        func make(_ shape: [Int]) -> NDArray {
            initialization == .zeros ? .zeros(shape) : .uniform(shape, in: -bound...bound)
        }
        weight = Parameter(make([outFeatures, inFeatures]))
        self.bias = bias ? Parameter(make([outFeatures])) : nil
        super.init()
    }

    override public func forward(_ x: NDArray) throws -> NDArray {
        try NDArray.linear(x, weight: weight.value, bias: bias?.value)
    }

    override public var extraDescription: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(bias == nil ? "False" : "True")"
    }
}

/// How a layer's parameters start.
public enum Initialization: Sendable, Equatable {
    /// PyTorch's default distribution for the layer.
    case pytorchDefault
    /// Zeros (no random draw): for a model whose weights are loaded next.
    case zeros
}

/// An elementwise activation as a layer: ReLU, GELU (exact or tanh), SiLU.
public final class Activation: Module {
    public let operation: UnaryOperation
    public init(_ operation: UnaryOperation) { self.operation = operation; super.init() }
    override public func forward(_ x: NDArray) throws -> NDArray { try x.applying(operation) }
    override var typeName: String {
        switch operation {
        case .relu: "ReLU"
        case .gelu: "GELU"
        case .geluTanh: "GELU"
        case .silu: "SiLU"
        case .sigmoid: "Sigmoid"
        case .tanh: "Tanh"
        }
    }
    override public var extraDescription: String { operation == .geluTanh ? "approximate='tanh'" : "" }
}

/// max(x, 0), as a layer.
public final class ReLU: Module {
    override public init() { super.init() }
    override public func forward(_ x: NDArray) throws -> NDArray { try x.relu() }
}

/// Passes its input through (torchvision's placeholder where a layer is absent).
public final class Identity: Module {
    override public init() { super.init() }
    override public func forward(_ x: NDArray) throws -> NDArray { x }
}

/// Runs its layers in order; their state-dict keys are `0.`, `1.`, … as in PyTorch.
public final class Sequential: Module {
    public let layers: [Module]

    public init(_ layers: Module...) { self.layers = layers; super.init() }
    public init(layers: [Module]) { self.layers = layers; super.init() }

    public subscript(index: Int) -> Module { layers[index] }

    override func members() throws -> [(String, Member)] {
        layers.enumerated().map { (String($0.offset), .module($0.element)) }
    }

    override public func forward(_ x: NDArray) throws -> NDArray {
        try layers.reduce(x) { try $1($0) }
    }
}
