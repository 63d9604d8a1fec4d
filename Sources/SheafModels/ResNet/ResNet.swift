import Sheaf
import SheafRuntime

/// The identity, or torchvision's downsample (a 1×1 convolution and batch norm, fused).
func shortcut(_ downsample: Sequential?, _ x: NDArray) throws -> NDArray {
    guard let downsample else { return x }
    guard downsample.layers.count == 2, let conv = downsample.layers[0] as? Conv2d, let bn = downsample.layers[1] as? BatchNorm2d else {
        return try downsample(x)
    }
    return try conv(x, batchNorm: bn)
}

/// torchvision's residual block of ResNet-18/34: two 3×3 convolutions.
final class BasicBlock: Module {
    static let expansion = 1
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    let downsample: Sequential?

    init(_ inPlanes: Int, _ planes: Int, stride: Int, downsample: Sequential?) {
        conv1 = Conv2d(inPlanes, planes, kernel: (3, 3), stride: (stride, stride), padding: (1, 1), bias: false, initialization: .zeros)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernel: (3, 3), padding: (1, 1), bias: false, initialization: .zeros)
        bn2 = BatchNorm2d(planes)
        self.downsample = downsample
        super.init()
    }

    override func forward(_ x: NDArray) throws -> NDArray {
        let out = try conv1(x, batchNorm: bn1, relu: true)
        return try conv2(out, batchNorm: bn2, residual: shortcut(downsample, x), relu: true)
    }
}

/// torchvision's bottleneck block of ResNet-50/101/152 (v1.5: the stride on the 3×3).
final class Bottleneck: Module {
    static let expansion = 4
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    let downsample: Sequential?

    init(_ inPlanes: Int, _ planes: Int, stride: Int, downsample: Sequential?) {
        conv1 = Conv2d(inPlanes, planes, kernel: (1, 1), bias: false, initialization: .zeros)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernel: (3, 3), stride: (stride, stride), padding: (1, 1), bias: false, initialization: .zeros)
        bn2 = BatchNorm2d(planes)
        conv3 = Conv2d(planes, planes * Self.expansion, kernel: (1, 1), bias: false, initialization: .zeros)
        bn3 = BatchNorm2d(planes * Self.expansion)
        self.downsample = downsample
        super.init()
    }

    override func forward(_ x: NDArray) throws -> NDArray {
        var out = try conv1(x, batchNorm: bn1, relu: true)
        out = try conv2(out, batchNorm: bn2, relu: true)
        return try conv3(out, batchNorm: bn3, residual: shortcut(downsample, x), relu: true)
    }
}

/// torchvision's ResNet (`resnet18`, `resnet34`, `resnet50`, `resnet101`,
/// `resnet152`) with its state-dict keys, for inference (BatchNorm in eval mode).
/// Input `[n, 3, h, w]` float32, output logits `[n, classes]`.
public final class ResNet: Module {
    let conv1: Conv2d
    let bn1: BatchNorm2d
    let layer1: [Module], layer2: [Module], layer3: [Module], layer4: [Module]
    let fc: Linear

    /// The depths torchvision builds.
    public enum Depth: String, Sendable, CaseIterable {
        case resnet18, resnet34, resnet50, resnet101, resnet152

        var blocks: [Int] {
            switch self {
            case .resnet18: [2, 2, 2, 2]
            case .resnet34, .resnet50: [3, 4, 6, 3]
            case .resnet101: [3, 4, 23, 3]
            case .resnet152: [3, 8, 36, 3]
            }
        }
        var bottleneck: Bool { self != .resnet18 && self != .resnet34 }
    }

    /// A ResNet of `depth` with `classes` outputs and zero weights, to be loaded.
    public init(_ depth: Depth, classes: Int = 1000) {
        let expansion = depth.bottleneck ? Bottleneck.expansion : BasicBlock.expansion
        var inPlanes = 64
        func stage(_ planes: Int, _ count: Int, stride: Int) -> [Module] {
            var blocks: [Module] = []
            for index in 0..<count {
                let s = index == 0 ? stride : 1
                var downsample: Sequential? = nil
                if index == 0 && (s != 1 || inPlanes != planes * expansion) {
                    downsample = Sequential(Conv2d(inPlanes, planes * expansion, kernel: (1, 1), stride: (s, s), bias: false, initialization: .zeros),
                                            BatchNorm2d(planes * expansion))
                }
                blocks.append(depth.bottleneck ? Bottleneck(inPlanes, planes, stride: s, downsample: downsample)
                                               : BasicBlock(inPlanes, planes, stride: s, downsample: downsample))
                inPlanes = planes * expansion
            }
            return blocks
        }
        conv1 = Conv2d(3, 64, kernel: (7, 7), stride: (2, 2), padding: (3, 3), bias: false, initialization: .zeros)
        bn1 = BatchNorm2d(64)
        layer1 = stage(64, depth.blocks[0], stride: 1)
        layer2 = stage(128, depth.blocks[1], stride: 2)
        layer3 = stage(256, depth.blocks[2], stride: 2)
        layer4 = stage(512, depth.blocks[3], stride: 2)
        fc = Linear(512 * expansion, classes, initialization: .zeros)
        super.init()
    }

    override public func forward(_ x: NDArray) throws -> NDArray {
        guard x.rank == 4, x.shape[1] == 3 else {
            throw RuntimeError(.shapeMismatch, "a ResNet takes images [n, 3, h, w], found shape \(x.shape)")
        }
        var y = try conv1(x, batchNorm: bn1, relu: true).maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        for stage in [layer1, layer2, layer3, layer4] { for block in stage { y = try block(y) } }
        y = try y.adaptiveAveragePool2d((1, 1))
        return try fc(y.reshaped([y.shape[0], -1]))
    }

    /// Builds a ResNet of `depth` for a torchvision state dict (the class count
    /// read from `fc.weight`) and loads it strictly.
    public static func load(_ depth: Depth, _ stateDict: StateDict, origin: String) throws -> ResNet {
        let expansion = depth.bottleneck ? Bottleneck.expansion : BasicBlock.expansion
        guard let fc = stateDict["fc.weight"], fc.rank == 2, fc.shape[1] == 512 * expansion, (1...(1 << 20)).contains(fc.shape[0]) else {
            throw ModelError(.configurationMismatch, "\(origin): not a torchvision \(depth.rawValue) state dict (fc.weight must be [classes, \(512 * expansion)])")
        }
        let model = ResNet(depth, classes: fc.shape[0])
        try model.loadStateDict(stateDict)
        return model
    }
}
