import Sheaf

/// A binary elementwise operation.
public enum BinaryOperation: Sendable {
    case add, subtract, multiply, divide
}

/// A unary elementwise operation.
public enum UnaryOperation: Sendable, CustomStringConvertible {
    case relu
    /// GELU with the exact erf, PyTorch's `gelu(approximate='none')`.
    case gelu
    /// GELU with the tanh approximation, PyTorch's `gelu(approximate='tanh')` (GPT-2's `gelu_new`).
    case geluTanh
    /// x·σ(x), PyTorch's `silu`.
    case silu
    case sigmoid
    case tanh

    public var description: String {
        switch self {
        case .relu: "relu"
        case .gelu: "gelu"
        case .geluTanh: "gelu (tanh)"
        case .silu: "silu"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        }
    }
}

/// How a linear layer stores its weight.
enum WeightLayout: Sendable {
    /// `[out, in]`, PyTorch's `nn.Linear`: y = x·Wᵀ.
    case outIn
    /// `[in, out]`, transformers' `Conv1D` (GPT-2): y = x·W.
    case inOut
}

/// Geometry of a 2-d convolution or pooling window.
struct Window2D: Sendable, Equatable {
    var kernel: (Int, Int)
    var stride: (Int, Int)
    var padding: (Int, Int)
    var dilation: (Int, Int) = (1, 1)

    static func == (a: Window2D, b: Window2D) -> Bool {
        a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation
    }

    /// The output extent along one axis, or nil when the window does not fit.
    static func outputExtent(_ input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int) -> Int? {
        let span = dilation * (kernel - 1) + 1
        let room = input + 2 * padding - span
        return room < 0 || stride <= 0 ? nil : room / stride + 1
    }
}

/// What a convolution applies to its output in the same pass: a folded batch
/// norm (per-channel scale of the weights and shift), a residual, ReLU.
struct ConvolutionEpilogue {
    var scale: [Float]? = nil
    var shift: [Float]? = nil
    var residual: NDArray? = nil
    var relu = false
}

/// One device's implementation of the runtime's operations.
///
/// The public operations on ``NDArray`` check devices, dtypes and shapes, then
/// call the backend of their operands' storage. Operands are on the backend's
/// device and already validated; each method returns a new array there.
/// An operation a backend lacks throws ``RuntimeError`` (`unsupported`) naming
/// the operation and the device, never a crash (the defaults below).
protocol Backend {
    var device: Device { get }

    // Elementwise
    func binary(_ op: BinaryOperation, _ a: NDArray, _ b: NDArray, shape: [Int]) throws -> NDArray
    func equal(_ a: NDArray, _ b: NDArray, shape: [Int]) throws -> NDArray
    func unary(_ op: UnaryOperation, _ x: NDArray) throws -> NDArray

    // Reductions: x viewed as [outer, length, inner], reduced over `length`, times `scale`.
    func reduce(_ x: NDArray, outer: Int, length: Int, inner: Int, outShape: [Int], scale: Double) throws -> NDArray

    // Products
    /// `batch` products of row-major `[m, k]` and `[k, n]` (or `[n, k]` when
    /// `transposeB`); `aStride`/`bStride` are the element distances between
    /// batch items (0 broadcasts one matrix over the batch).
    func gemm(_ a: NDArray, _ b: NDArray, batch: Int, m: Int, n: Int, k: Int, aStride: Int, bStride: Int,
              transposeB: Bool, outShape: [Int]) throws -> NDArray
    /// `x · W (+ bias)` over the last axis of x, `rows` rows.
    func linear(_ x: NDArray, weight: NDArray, bias: NDArray?, layout: WeightLayout, rows: Int, outShape: [Int]) throws -> NDArray

    // Shape
    func permute(_ x: NDArray, axes: [Int], outShape: [Int]) throws -> NDArray
    /// Parts joined along `axis`, each viewed as [outer, partLength·inner].
    func concat(_ parts: [NDArray], axis: Int, outShape: [Int]) throws -> NDArray
    func slice(_ x: NDArray, axis: Int, range: Range<Int>, outShape: [Int]) throws -> NDArray
    func convert(_ x: NDArray, to dtype: DType) throws -> NDArray

    // Neural-network operations (float32)
    /// Softmax over the last axis; with `causalOffset`, row `i` of each `[t, s]`
    /// block sees columns `≤ i + causalOffset` (the rest are zero).
    func softmax(_ x: NDArray, causalOffset: Int?) throws -> NDArray
    func layerNorm(_ x: NDArray, weight: NDArray?, bias: NDArray?, epsilon: Float) throws -> NDArray
    func rmsNorm(_ x: NDArray, weight: NDArray?, epsilon: Float) throws -> NDArray
    func embedding(_ weight: NDArray, ids: [Int], outShape: [Int]) throws -> NDArray
    /// Rotary position embedding (the rotate-half form) of `[b, h, t, d]` at positions `offset..<offset+t`.
    func rope(_ x: NDArray, offset: Int, inverseFrequencies: [Float]) throws -> NDArray
    /// softmax(q·kᵀ·scale + causal mask)·v for q `[b, h, t, d]`, k/v `[b, hkv, s, d]` (`h` a multiple of `hkv`).
    func attention(_ q: NDArray, _ k: NDArray, _ v: NDArray, scale: Float, causalOffset: Int?) throws -> NDArray
    func conv2d(_ x: NDArray, weight: NDArray, bias: NDArray?, window: Window2D, groups: Int, outShape: [Int],
                epilogue: ConvolutionEpilogue) throws -> NDArray
    func batchNorm(_ x: NDArray, mean: NDArray, variance: NDArray, weight: NDArray?, bias: NDArray?, epsilon: Float) throws -> NDArray
    func maxPool2d(_ x: NDArray, window: Window2D, outShape: [Int]) throws -> NDArray
    func adaptiveAveragePool2d(_ x: NDArray, outShape: [Int]) throws -> NDArray
}

extension Backend {
    func unsupported(_ operation: String) -> RuntimeError {
        RuntimeError(.unsupported, "\(operation) is not implemented on \(device) yet; run on the CPU (.to(.cpu), or --device cpu)")
    }

    func unary(_ op: UnaryOperation, _ x: NDArray) throws -> NDArray { throw unsupported("\(op)") }
    func gemm(_ a: NDArray, _ b: NDArray, batch: Int, m: Int, n: Int, k: Int, aStride: Int, bStride: Int,
              transposeB: Bool, outShape: [Int]) throws -> NDArray { throw unsupported("batched matmul") }
    func permute(_ x: NDArray, axes: [Int], outShape: [Int]) throws -> NDArray { throw unsupported("permute") }
    func concat(_ parts: [NDArray], axis: Int, outShape: [Int]) throws -> NDArray { throw unsupported("concat") }
    func slice(_ x: NDArray, axis: Int, range: Range<Int>, outShape: [Int]) throws -> NDArray { throw unsupported("slice") }
    func convert(_ x: NDArray, to dtype: DType) throws -> NDArray { throw unsupported("dtype conversion") }
    func softmax(_ x: NDArray, causalOffset: Int?) throws -> NDArray { throw unsupported("softmax") }
    func layerNorm(_ x: NDArray, weight: NDArray?, bias: NDArray?, epsilon: Float) throws -> NDArray { throw unsupported("layer norm") }
    func rmsNorm(_ x: NDArray, weight: NDArray?, epsilon: Float) throws -> NDArray { throw unsupported("RMS norm") }
    func embedding(_ weight: NDArray, ids: [Int], outShape: [Int]) throws -> NDArray { throw unsupported("embedding") }
    func rope(_ x: NDArray, offset: Int, inverseFrequencies: [Float]) throws -> NDArray { throw unsupported("rotary embedding") }
    func attention(_ q: NDArray, _ k: NDArray, _ v: NDArray, scale: Float, causalOffset: Int?) throws -> NDArray { throw unsupported("attention") }
    func conv2d(_ x: NDArray, weight: NDArray, bias: NDArray?, window: Window2D, groups: Int, outShape: [Int],
                epilogue: ConvolutionEpilogue) throws -> NDArray { throw unsupported("conv2d") }
    func batchNorm(_ x: NDArray, mean: NDArray, variance: NDArray, weight: NDArray?, bias: NDArray?, epsilon: Float) throws -> NDArray { throw unsupported("batch norm") }
    func maxPool2d(_ x: NDArray, window: Window2D, outShape: [Int]) throws -> NDArray { throw unsupported("max pooling") }
    func adaptiveAveragePool2d(_ x: NDArray, outShape: [Int]) throws -> NDArray { throw unsupported("adaptive average pooling") }
}
