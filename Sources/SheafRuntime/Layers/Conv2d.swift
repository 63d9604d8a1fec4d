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
