import Sheaf

/// Layer normalisation over the last axis with a learned scale and shift, like `nn.LayerNorm`.
public final class LayerNorm: Module {
    public let weight: Parameter?
    public let bias: Parameter?
    public let epsilon: Float

    public init(_ dimension: Int, epsilon: Float = 1e-5, affine: Bool = true) {
        weight = affine ? Parameter(NDArray.filled([dimension], 1)) : nil
        bias = affine ? Parameter(NDArray.zeros([dimension])) : nil
        self.epsilon = epsilon
        super.init()
    }

    override public func forward(_ x: NDArray) throws -> NDArray {
        try x.layerNorm(weight: weight?.value, bias: bias?.value, epsilon: epsilon)
    }

    override public var extraDescription: String { "(\(weight?.shape[0] ?? 0),), eps=\(epsilon)" }
}

/// Root-mean-square normalisation with a learned scale, like transformers' `LlamaRMSNorm`.
public final class RMSNorm: Module {
    public let weight: Parameter
    public let epsilon: Float

    public init(_ dimension: Int, epsilon: Float = 1e-6) {
        weight = Parameter(NDArray.filled([dimension], 1))
        self.epsilon = epsilon
        super.init()
    }

    override public func forward(_ x: NDArray) throws -> NDArray { try x.rmsNorm(weight: weight.value, epsilon: epsilon) }

    override public var extraDescription: String { "(\(weight.shape[0]),), eps=\(epsilon)" }
}

/// Batch normalisation of `[n, c, h, w]` for inference, like `nn.BatchNorm2d` in
/// eval mode: running statistics, and `num_batches_tracked` kept for the state dict.
public final class BatchNorm2d: Module {
    public let weight: Parameter
    public let bias: Parameter
    @ModuleInfo(key: "running_mean") public var runningMean: Buffer
    @ModuleInfo(key: "running_var") public var runningVariance: Buffer
    @ModuleInfo(key: "num_batches_tracked") public var batchesTracked: Buffer
    public let epsilon: Float

    public init(_ channels: Int, epsilon: Float = 1e-5) {
        weight = Parameter(NDArray.filled([channels], 1))
        bias = Parameter(NDArray.zeros([channels]))
        self.epsilon = epsilon
        _runningMean.wrappedValue = Buffer(NDArray.zeros([channels]))
        _runningVariance.wrappedValue = Buffer(NDArray.filled([channels], 1))
        _batchesTracked.wrappedValue = Buffer(NDArray(Tensor(scalar: Int64(0))))
        super.init()
    }

    override public func forward(_ x: NDArray) throws -> NDArray {
        try x.batchNorm(mean: runningMean.value, variance: runningVariance.value, weight: weight.value, bias: bias.value, epsilon: epsilon)
    }

    override public var extraDescription: String { "\(weight.shape[0]), eps=\(epsilon)" }

    /// The running statistics and affine parameters, for a fused convolution.
    public var inferenceParameters: NDArray.BatchNormParameters {
        .init(mean: runningMean.value, variance: runningVariance.value, weight: weight.value, bias: bias.value, epsilon: epsilon)
    }
}
