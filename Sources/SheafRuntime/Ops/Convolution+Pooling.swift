import Sheaf

extension NDArray {
    /// 2-d convolution of `[n, c, h, w]` with weight `[o, c/groups, kh, kw]`, like `F.conv2d`
    /// (im2col and one GEMM per image and group; 1×1 stride-1 convolutions skip im2col).
    /// - Complexity: O(n·o·c/groups·kh·kw·oh·ow).
    public func conv2d(weight: NDArray, bias: NDArray?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> NDArray {
        try conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
                   batchNorm: nil, residual: nil, relu: false)
    }

    /// A convolution, then (inference) batch norm, a residual and ReLU, in one
    /// pass over the output: `relu(bn(conv(x)) + residual)`. The batch norm is
    /// folded into the weights (per output channel) and bias for this call;
    /// the result equals the separate operations up to float rounding.
    public func conv2d(weight: NDArray, bias: NDArray?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), groups: Int = 1, batchNorm: BatchNormParameters?,
                       residual: NDArray? = nil, relu: Bool = false) throws -> NDArray {
        try requireFloat32("conv2d")
        try sameDevice(weight, "conv2d")
        try requireRank(4, "conv2d", "[n, c, h, w]")
        guard weight.rank == 4, weight.dtype == dtype, groups > 0, shape[1] % groups == 0, weight.shape[0] % groups == 0,
              weight.shape[1] * groups == shape[1] else {
            throw RuntimeError(.shapeMismatch, "conv2d: weight \(weight.shape) with \(groups) group(s) does not fit input \(shape)")
        }
        try checkVector(bias, weight.shape[0], "bias", "conv2d")
        let window = Window2D(kernel: (weight.shape[2], weight.shape[3]), stride: stride, padding: padding, dilation: dilation)
        let outShape = try outputShape(window, channels: weight.shape[0], "conv2d")
        var epilogue = ConvolutionEpilogue(residual: residual, relu: relu)
        if let residual {
            try sameDevice(residual, "conv2d")
            guard residual.shape == outShape, residual.dtype == dtype else {
                throw RuntimeError(.shapeMismatch, "conv2d: residual \(residual.shape) does not match the output \(outShape)")
            }
        }
        if let bn = batchNorm {
            let channels = weight.shape[0]
            try checkVector(bn.mean, channels, "running mean", "batch norm")
            try checkVector(bn.variance, channels, "running variance", "batch norm")
            try checkVector(bn.weight, channels, "weight", "batch norm")
            try checkVector(bn.bias, channels, "bias", "batch norm")
            let (scale, shift) = try bn.scaleAndShift()
            epilogue.scale = scale
            epilogue.shift = shift
        }
        return try backend.conv2d(self, weight: weight, bias: bias, window: window, groups: groups, outShape: outShape, epilogue: epilogue)
    }

    /// Inference batch-norm statistics and affine parameters, for a fused convolution.
    public struct BatchNormParameters {
        public var mean: NDArray, variance: NDArray, weight: NDArray?, bias: NDArray?, epsilon: Float
        public init(mean: NDArray, variance: NDArray, weight: NDArray?, bias: NDArray?, epsilon: Float) {
            (self.mean, self.variance, self.weight, self.bias, self.epsilon) = (mean, variance, weight, bias, epsilon)
        }

        /// Per channel: y = x·scale + shift, as PyTorch's inference kernel computes it.
        func scaleAndShift() throws -> ([Float], [Float]) {
            let m = try mean.scalars(as: Float.self), v = try variance.scalars(as: Float.self)
            let w = try weight?.scalars(as: Float.self), b = try bias?.scalars(as: Float.self)
            var scale = [Float](repeating: 1, count: m.count), shift = [Float](repeating: 0, count: m.count)
            for i in m.indices {
                let inverse = 1 / (v[i] + epsilon).squareRoot()
                scale[i] = (w?[i] ?? 1) * inverse
                shift[i] = (b?[i] ?? 0) - m[i] * scale[i]
            }
            return (scale, shift)
        }
    }

    /// Max pooling of `[n, c, h, w]`, like `F.max_pool2d` (padding counts as −∞).
    public func maxPool2d(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) throws -> NDArray {
        try requireFloat32("max pooling")
        try requireRank(4, "max pooling", "[n, c, h, w]")
        guard padding.0 * 2 <= kernel.0, padding.1 * 2 <= kernel.1 else {
            throw RuntimeError(.invalidArgument, "max pooling: padding \(padding) must be at most half the kernel \(kernel)")
        }
        let window = Window2D(kernel: kernel, stride: stride, padding: padding, dilation: dilation)
        return try backend.maxPool2d(self, window: window, outShape: try outputShape(window, channels: shape[1], "max pooling"))
    }

    /// Adaptive average pooling of `[n, c, h, w]` to `[n, c, oh, ow]`, like `F.adaptive_avg_pool2d`.
    public func adaptiveAveragePool2d(_ size: (Int, Int)) throws -> NDArray {
        try requireFloat32("adaptive average pooling")
        try requireRank(4, "adaptive average pooling", "[n, c, h, w]")
        guard size.0 > 0, size.1 > 0, shape[2] > 0, shape[3] > 0 else {
            throw RuntimeError(.shapeMismatch, "adaptive average pooling of \(shape) to \(size)")
        }
        return try backend.adaptiveAveragePool2d(self, outShape: [shape[0], shape[1], size.0, size.1])
    }

    func outputShape(_ window: Window2D, channels: Int, _ operation: String) throws -> [Int] {
        guard window.kernel.0 > 0, window.kernel.1 > 0, window.stride.0 > 0, window.stride.1 > 0,
              window.padding.0 >= 0, window.padding.1 >= 0, window.dilation.0 > 0, window.dilation.1 > 0,
              let oh = Window2D.outputExtent(shape[2], kernel: window.kernel.0, stride: window.stride.0, padding: window.padding.0, dilation: window.dilation.0),
              let ow = Window2D.outputExtent(shape[3], kernel: window.kernel.1, stride: window.stride.1, padding: window.padding.1, dilation: window.dilation.1),
              oh > 0, ow > 0 else {
            throw RuntimeError(.shapeMismatch, "\(operation): a \(window.kernel) window (stride \(window.stride), padding \(window.padding), dilation \(window.dilation)) does not fit input \(shape)")
        }
        return [shape[0], channels, oh, ow]
    }
}
