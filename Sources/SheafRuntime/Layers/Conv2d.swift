import Sheaf

/// 2-d convolution, like `nn.Conv2d` (weight `[out, in/groups, kh, kw]`,
/// PyTorch's default initialisation: uniform in ±1/√fan_in).
public final class Conv2d: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let dilation: (Int, Int)
    public let groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                initialization: Initialization = .pytorchDefault) {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: \(groups) groups must divide \(inChannels) and \(outChannels) channels")
        let fanIn = inChannels / groups * kernel.0 * kernel.1
        let bound = fanIn > 0 ? 1 / Double(fanIn).squareRoot() : 0
        func make(_ shape: [Int]) -> NDArray {
            initialization == .zeros ? .zeros(shape) : .uniform(shape, in: -bound...bound)
        }
        weight = Parameter(make([outChannels, inChannels / groups, kernel.0, kernel.1]))
        self.bias = bias ? Parameter(make([outChannels])) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        super.init()
    }

    override public func forward(_ x: NDArray) throws -> NDArray {
        try x.conv2d(weight: weight.value, bias: bias?.value, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// `relu(batchNorm(conv(x)) + residual)` in one pass (inference), with the
    /// batch norm folded into the weights and bias. The folded weights are kept
    /// until any of the arrays they came from is replaced (a new load, `.to(_:)`).
    public func callAsFunction(_ x: NDArray, batchNorm: BatchNorm2d?, residual: NDArray? = nil, relu: Bool = false) throws -> NDArray {
        guard let batchNorm else {
            return try x.conv2d(weight: weight.value, bias: bias?.value, stride: stride, padding: padding, dilation: dilation,
                                groups: groups, batchNorm: nil, residual: residual, relu: relu)
        }
        let sources = [weight.value, bias?.value, batchNorm.weight.value, batchNorm.bias.value,
                       batchNorm.runningMean.value, batchNorm.runningVariance.value].compactMap { $0 }
        let key = sources.map(ObjectIdentifier.init) + [ObjectIdentifier(batchNorm)]
        if folded.key != key {
            let channels = weight.shape[0]
            let (scale, shift) = try batchNorm.inferenceParameters.scaleAndShift()
            let scaleArray = try NDArray(shape: [channels, 1, 1, 1], scalars: scale)
            let folding = try (weight.value.to(.cpu) * scaleArray).to(weight.device)
            let offset = try bias.map { try $0.value.to(.cpu).scalars(as: Float.self) } ?? [Float](repeating: 0, count: channels)
            let combined = (0..<channels).map { offset[$0] * scale[$0] + shift[$0] }
            folded.weight = folding
            folded.bias = try NDArray(shape: [channels], scalars: combined, on: weight.device)
            // The sources stay referenced, so their identities cannot be reused while cached.
            folded.sources = sources
            folded.key = key
        }
        return try x.conv2d(weight: folded.weight ?? weight.value, bias: folded.bias, stride: stride, padding: padding,
                            dilation: dilation, groups: groups, batchNorm: nil, residual: residual, relu: relu)
    }

    /// Weights with a batch norm folded in, and what they were computed from.
    private final class FoldedWeights {
        var key: [ObjectIdentifier] = []
        var sources: [NDArray] = []
        var weight: NDArray?
        var bias: NDArray?
    }
    private let folded = FoldedWeights()

    override public var extraDescription: String {
        let s = weight.shape
        return "\(s[1] * groups), \(s[0]), kernel_size=(\(s[2]), \(s[3])), stride=\(stride)" + (padding != (0, 0) ? ", padding=\(padding)" : "")
            + (bias == nil ? ", bias=False" : "")
    }
}

/// Max pooling, like `nn.MaxPool2d`.
public final class MaxPool2d: Module {
    public let kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)
    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        self.kernel = kernel
        self.stride = stride ?? kernel
        self.padding = padding
        super.init()
    }
    override public func forward(_ x: NDArray) throws -> NDArray { try x.maxPool2d(kernel: kernel, stride: stride, padding: padding) }
}

/// Adaptive average pooling to a fixed size, like `nn.AdaptiveAvgPool2d`.
public final class AdaptiveAvgPool2d: Module {
    public let size: (Int, Int)
    public init(_ size: (Int, Int)) { self.size = size; super.init() }
    override public func forward(_ x: NDArray) throws -> NDArray { try x.adaptiveAveragePool2d(size) }
}
