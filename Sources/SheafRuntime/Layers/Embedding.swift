import Sheaf

/// A lookup table `[count, dimension]`, like `nn.Embedding` (initialised N(0, 1)).
public final class Embedding: Module {
    public let weight: Parameter

    public init(_ count: Int, _ dimension: Int, initialization: Initialization = .pytorchDefault) {
        weight = Parameter(initialization == .zeros ? .zeros([count, dimension]) : .randn([count, dimension]))
        super.init()
    }

    /// The rows at `ids`, shaped `shape + [dimension]` (default: `[ids.count]`).
    public func callAsFunction(ids: [Int], shape: [Int]? = nil) throws -> NDArray {
        try NDArray.embedding(weight.value, ids: ids, shape: shape ?? [ids.count])
    }

    override public var extraDescription: String { "\(weight.shape[0]), \(weight.shape[1])" }
}
