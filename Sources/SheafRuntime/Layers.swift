import Sheaf

/// `y = x · weightᵀ + bias`, with `weight` of shape `[out, in]` as PyTorch's
/// `nn.Linear` stores it, initialised from PyTorch's default distribution
/// (uniform in ±1/√in for weight and bias).
public final class Linear: Module, @unchecked Sendable {
    public let weight: Parameter
    public let bias: Parameter?
    public let inFeatures: Int
    public let outFeatures: Int

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, on device: Device = .cpu) throws {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = inFeatures > 0 ? 1 / Double(inFeatures).squareRoot() : 0
        weight = Parameter(try NDArray.uniform([outFeatures, inFeatures], in: -bound...bound, on: device))
        self.bias = bias ? Parameter(try NDArray.uniform([outFeatures], in: -bound...bound, on: device)) : nil
        super.init()
    }

    override public func forward(_ x: NDArray) throws -> NDArray {
        try NDArray.linear(x, weight: weight.value, bias: bias?.value)
    }

    override public var extraDescription: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(bias == nil ? "False" : "True")"
    }
}

/// max(x, 0), as a layer.
public final class ReLU: Module, @unchecked Sendable {
    override public init() { super.init() }
    override public func forward(_ x: NDArray) throws -> NDArray { try x.relu() }
}

/// Runs its layers in order; their state-dict keys are `0.`, `1.`, … as in PyTorch.
public final class Sequential: Module, @unchecked Sendable {
    public let layers: [Module]

    public init(_ layers: Module...) { self.layers = layers; super.init() }
    public init(layers: [Module]) { self.layers = layers; super.init() }

    public subscript(index: Int) -> Module { layers[index] }

    override func entries() -> [(String, Any)] {
        layers.enumerated().map { (String($0.offset), $0.element as Any) }
    }

    override public func forward(_ x: NDArray) throws -> NDArray {
        try layers.reduce(x) { try $1($0) }
    }
}
