import Sheaf

extension NDArray {
    /// Layer normalisation over the last axis, like `F.layer_norm(x, [d], weight, bias, eps)`.
    public func layerNorm(weight: NDArray?, bias: NDArray?, epsilon: Float = 1e-5) throws -> NDArray {
        try requireFloat32("layer norm")
        guard let width = shape.last else { throw RuntimeError(.shapeMismatch, "layer norm of a 0-d array") }
        try checkVector(weight, width, "weight", "layer norm")
        try checkVector(bias, width, "bias", "layer norm")
        return try backend.layerNorm(self, weight: weight, bias: bias, epsilon: epsilon)
    }

    /// Root-mean-square normalisation over the last axis, times `weight`
    /// (transformers' `LlamaRMSNorm`, in float32).
    public func rmsNorm(weight: NDArray?, epsilon: Float = 1e-6) throws -> NDArray {
        try requireFloat32("RMS norm")
        guard let width = shape.last else { throw RuntimeError(.shapeMismatch, "RMS norm of a 0-d array") }
        try checkVector(weight, width, "weight", "RMS norm")
        return try backend.rmsNorm(self, weight: weight, epsilon: epsilon)
    }

    /// Batch normalisation of `[n, c, …]` with running statistics (inference,
    /// PyTorch's `BatchNorm2d` in eval mode).
    public func batchNorm(mean: NDArray, variance: NDArray, weight: NDArray?, bias: NDArray?, epsilon: Float = 1e-5) throws -> NDArray {
        try requireFloat32("batch norm")
        guard rank >= 2 else { throw RuntimeError(.shapeMismatch, "batch norm needs [n, c, ...], found shape \(shape)") }
        let channels = shape[1]
        try checkVector(mean, channels, "running mean", "batch norm")
        try checkVector(variance, channels, "running variance", "batch norm")
        try checkVector(weight, channels, "weight", "batch norm")
        try checkVector(bias, channels, "bias", "batch norm")
        return try backend.batchNorm(self, mean: mean, variance: variance, weight: weight, bias: bias, epsilon: epsilon)
    }
}
