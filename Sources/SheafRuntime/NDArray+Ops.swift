import COpenBLAS
import Dispatch
import Sheaf
import Synchronization

/// Process-wide random source for initialisation, seedable like `torch.manual_seed`.
public enum RandomSource {
    static let generator = Mutex(SeededGenerator(seed: 0x5EAF))

    /// Reseeds the default generator.
    public static func manualSeed(_ seed: UInt64) { generator.withLock { $0 = SeededGenerator(seed: seed) } }

    static func next<R>(_ body: (inout SeededGenerator) throws -> R) rethrows -> R {
        try generator.withLock { try body(&$0) }
    }
}

/// Splits `count` items over the cores when there are enough of them.
@inline(__always)
func parallelFor(_ count: Int, minimumChunk: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
    let chunks = min(ProcessInfoCores.count, max(1, count / minimumChunk))
    if chunks <= 1 { body(0..<count); return }
    let size = (count + chunks - 1) / chunks
    withoutActuallyEscaping(body) { body in
        // The chunks write disjoint ranges; the caller owns the buffers for the call.
        let work = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * size
            if start < count { work.value(start..<min(count, start + size)) }
        }
    }
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

enum ProcessInfoCores {
    static let count: Int = {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()
}

import Glibc

public enum BinaryOperation: Sendable {
    case add, subtract, multiply, divide

    var kernel: String {
        switch self {
        case .add: "add_f32"
        case .subtract: "sub_f32"
        case .multiply: "mul_f32"
        case .divide: "div_f32"
        }
    }
}

extension NDArray {
    // MARK: - Construction

    /// Zeros of `shape`.
    public static func zeros(_ shape: [Int], dtype: DType = .float32, on device: Device = .cpu) throws -> NDArray {
        try NDArray(try Tensor(zeros: shape, dtype: dtype), on: device)
    }

    /// Ones of `shape`.
    public static func ones(_ shape: [Int], dtype: DType = .float32, on device: Device = .cpu) throws -> NDArray {
        try NDArray(try Tensor(ones: shape, dtype: dtype), on: device)
    }

    /// Standard normal values, like `torch.randn`.
    public static func randn(_ shape: [Int], on device: Device = .cpu) throws -> NDArray {
        let tensor = try RandomSource.next { try Tensor(randomNormal: shape, using: &$0) }
        return try NDArray(tensor, on: device)
    }

    /// Uniform values in [0, 1), like `torch.rand`.
    public static func rand(_ shape: [Int], on device: Device = .cpu) throws -> NDArray {
        try uniform(shape, in: 0...1, on: device)
    }

    /// Uniform values in `range`.
    public static func uniform(_ shape: [Int], in range: ClosedRange<Double>, on device: Device = .cpu) throws -> NDArray {
        let tensor = try RandomSource.next { try Tensor(randomUniform: shape, in: range, using: &$0) }
        return try NDArray(tensor, on: device)
    }

    // MARK: - Checks

    func sameDevice(_ other: NDArray, _ operation: String) throws {
        guard device == other.device else {
            throw RuntimeError(.deviceMismatch,
                               "\(operation): expected all arrays on the same device, found \(device) and \(other.device); move one with .to(_:)")
        }
    }

    func requireFloat(_ operation: String) throws {
        guard dtype == .float32 || (dtype == .float64 && device == .cpu) else {
            throw RuntimeError(.dtypeUnsupported, "\(operation) needs float32 (or float64 on the CPU), found \(dtype) on \(device)")
        }
    }

    var hostTensor: Tensor? { if case .host(let t) = storage { return t }; return nil }
    var cudaBuffer: CUDABuffer? { if case .cuda(let b) = storage { return b }; return nil }

    /// Runs GPU work on this array's device, turning CUDA errors into runtime errors.
    func onGPU<R>(_ body: (CUDA, CUDA.DeviceState, Int) throws(CUDAError) -> R) throws -> R {
        guard case .cuda(let index) = device, let buffer = cudaBuffer else {
            throw RuntimeError(.invalidArgument, "not a GPU array")
        }
        do {
            return try buffer.cuda.with(device: index) { state throws(CUDAError) in try body(buffer.cuda, state, index) }
        } catch { throw RuntimeError.cuda(error) }
    }

    func newGPU(shape: [Int], dtype: DType) throws -> NDArray {
        guard case .cuda(let index) = device, let buffer = cudaBuffer else { throw RuntimeError(.invalidArgument, "not a GPU array") }
        do {
            let out = try CUDABuffer(cuda: buffer.cuda, device: index, byteCount: try Shape.byteCount(shape, dtype))
            return NDArray(shape: shape, dtype: dtype, device: device, storage: .cuda(out))
        } catch let error as CUDAError { throw RuntimeError.cuda(error) }
    }

    // MARK: - Elementwise

    /// The broadcast shape of two shapes (NumPy rules), or an error naming both.
    static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let rank = max(a.count, b.count)
        var result: [Int] = []
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard x == y || x == 1 || y == 1 else {
                throw RuntimeError(.shapeMismatch, "cannot broadcast shapes \(a) and \(b)")
            }
            result.append(x == 1 ? y : x)
        }
        return result
    }

    /// Element strides of `shape` broadcast to `output` (0 along broadcast dims).
    static func broadcastStrides(_ shape: [Int], to output: [Int]) -> [Int] {
        var strides = [Int](repeating: 0, count: output.count)
        var step = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            let o = i + output.count - shape.count
            strides[o] = shape[i] == 1 ? 0 : step
            step *= shape[i]
        }
        return strides
    }

    /// (div, mod) so that element i of the output reads element (i / div) % mod
    /// of `shape`, when that describes the broadcast.
    static func gpuIndexing(_ shape: [Int], to output: [Int]) -> (UInt64, UInt64)? {
        let count = shape.reduce(1, *)
        let total = output.reduce(1, *)
        if count == total { return (1, UInt64(max(count, 1))) }
        if count == 1 { return (1, 1) }
        let aligned = [Int](repeating: 1, count: output.count - shape.count) + shape
        let kept = aligned.indices.filter { aligned[$0] != 1 }
        guard let low = kept.first, let high = kept.last,
              (low...high).allSatisfy({ aligned[$0] == output[$0] }) else { return nil }
        let div = output[(high + 1)...].reduce(1, *)
        let mod = output[low...high].reduce(1, *)
        return (UInt64(div), UInt64(mod))
    }

    /// `a OP b` with broadcasting.
    public static func binary(_ a: NDArray, _ b: NDArray, _ op: BinaryOperation) throws -> NDArray {
        try a.sameDevice(b, "\(op)")
        try a.requireFloat("\(op)")
        guard a.dtype == b.dtype else {
            throw RuntimeError(.dtypeUnsupported, "\(op): dtypes differ (\(a.dtype) and \(b.dtype))")
        }
        let shape = try broadcastShape(a.shape, b.shape)
        if a.device != .cpu {
            guard let ia = gpuIndexing(a.shape, to: shape), let ib = gpuIndexing(b.shape, to: shape) else {
                throw RuntimeError(.shapeMismatch, "\(op) of \(a.shape) and \(b.shape) broadcasts in a pattern the CUDA kernels do not cover; reshape so the broadcast dimensions are leading or trailing")
            }
            let out = try a.newGPU(shape: shape, dtype: a.dtype)
            try out.onGPU { cuda, state, _ throws(CUDAError) in
                try cuda.launch(state, op.kernel, count: out.count,
                                [out.cudaBuffer!.address, a.cudaBuffer!.address, b.cudaBuffer!.address, UInt64(out.count),
                                 ia.0, ia.1, ib.0, ib.1] as [Any])
            }
            return out
        }
        let x = a.hostTensor!, y = b.hostTensor!
        let count = shape.reduce(1, *)
        let dtype = a.dtype, aShape = a.shape, bShape = b.shape
        // Every output element is written below.
        let result = try Tensor(dtype: dtype, shape: shape) { out in
            x.withUnsafeBytes { xa in
                y.withUnsafeBytes { yb in
                    if dtype == .float32 {
                        hostBinary(xa.bindMemory(to: Float.self), aShape, yb.bindMemory(to: Float.self), bShape,
                                   out.bindMemory(to: Float.self), shape, count, op)
                    } else {
                        hostBinary(xa.bindMemory(to: Double.self), aShape, yb.bindMemory(to: Double.self), bShape,
                                   out.bindMemory(to: Double.self), shape, count, op)
                    }
                }
            }
        }
        return NDArray(result)
    }

    static func hostBinary<T: BinaryFloatingPoint>(_ a: UnsafeBufferPointer<T>, _ aShape: [Int], _ b: UnsafeBufferPointer<T>,
                                                   _ bShape: [Int], _ out: UnsafeMutableBufferPointer<T>, _ shape: [Int],
                                                   _ count: Int, _ op: BinaryOperation) {
        @inline(__always) func apply(_ x: T, _ y: T) -> T {
            switch op {
            case .add: x + y
            case .subtract: x - y
            case .multiply: x * y
            case .divide: x / y
            }
        }
        guard count > 0 else { return }
        if a.count == count && b.count == count {
            parallelFor(count) { range in for i in range { out[i] = apply(a[i], b[i]) } }
            return
        }
        if b.count == 1 && a.count == count {
            let y = b[0]
            parallelFor(count) { range in for i in range { out[i] = apply(a[i], y) } }
            return
        }
        // General broadcasting: walk the output, innermost dimension as a loop.
        let sa = broadcastStrides(aShape, to: shape), sb = broadcastStrides(bShape, to: shape)
        let last = shape.count - 1
        let inner = shape[last]
        let rows = count / max(inner, 1)
        parallelFor(rows, minimumChunk: max(1, (1 << 15) / max(inner, 1))) { range in
            for row in range {
                var rest = row, ia = 0, ib = 0
                for d in stride(from: last - 1, through: 0, by: -1) {
                    let index = rest % shape[d]
                    rest /= shape[d]
                    ia += index * sa[d]
                    ib += index * sb[d]
                }
                let base = row * inner
                let ta = sa[last], tb = sb[last]
                for k in 0..<inner { out[base + k] = apply(a[ia + k * ta], b[ib + k * tb]) }
            }
        }
    }

    public static func + (a: NDArray, b: NDArray) throws -> NDArray { try binary(a, b, .add) }
    public static func - (a: NDArray, b: NDArray) throws -> NDArray { try binary(a, b, .subtract) }
    public static func * (a: NDArray, b: NDArray) throws -> NDArray { try binary(a, b, .multiply) }
    public static func / (a: NDArray, b: NDArray) throws -> NDArray { try binary(a, b, .divide) }
    public static func + (a: NDArray, b: Double) throws -> NDArray { try binary(a, try a.scalar(b), .add) }
    public static func - (a: NDArray, b: Double) throws -> NDArray { try binary(a, try a.scalar(b), .subtract) }
    public static func * (a: NDArray, b: Double) throws -> NDArray { try binary(a, try a.scalar(b), .multiply) }
    public static func / (a: NDArray, b: Double) throws -> NDArray { try binary(a, try a.scalar(b), .divide) }

    /// A 0-d array of this array's dtype and device holding `value`.
    func scalar(_ value: Double) throws -> NDArray {
        try NDArray(try Tensor(scalar: value).converted(to: dtype), on: device)
    }

    /// Elementwise equality as a bool array (same shapes, or broadcastable on the CPU).
    public static func .== (a: NDArray, b: NDArray) throws -> NDArray {
        try a.sameDevice(b, "==")
        try a.requireFloat("==")
        guard a.dtype == b.dtype else { throw RuntimeError(.dtypeUnsupported, "==: dtypes differ (\(a.dtype) and \(b.dtype))") }
        let shape = try broadcastShape(a.shape, b.shape)
        if a.device != .cpu {
            guard let ia = gpuIndexing(a.shape, to: shape), let ib = gpuIndexing(b.shape, to: shape) else {
                throw RuntimeError(.shapeMismatch, "== of \(a.shape) and \(b.shape) broadcasts in a pattern the CUDA kernels do not cover")
            }
            let out = try a.newGPU(shape: shape, dtype: .bool)
            try out.onGPU { cuda, state, _ throws(CUDAError) in
                try cuda.launch(state, "eq_f32", count: out.count,
                                [out.cudaBuffer!.address, a.cudaBuffer!.address, b.cudaBuffer!.address, UInt64(out.count),
                                 ia.0, ia.1, ib.0, ib.1] as [Any])
            }
            return out
        }
        let x = try a.tensor().converted(to: .float64).scalars(as: Double.self)
        let y = try b.tensor().converted(to: .float64).scalars(as: Double.self)
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        var flags: [Bool] = []
        flags.reserveCapacity(shape.reduce(1, *))
        for i in 0..<shape.reduce(1, *) {
            var rest = i, ia = 0, ib = 0
            for d in stride(from: shape.count - 1, through: 0, by: -1) {
                let index = rest % shape[d]
                rest /= shape[d]
                ia += index * sa[d]
                ib += index * sb[d]
            }
            flags.append(x[ia] == y[ib])
        }
        return NDArray(try Tensor(shape: shape, scalars: flags))
    }

    /// Whether every element of a bool array is true.
    public func allTrue() throws -> Bool {
        try tensor().scalars(as: Bool.self).allSatisfy { $0 }
    }

    /// max(x, 0) elementwise.
    public func relu() throws -> NDArray {
        try requireFloat("relu")
        let count = count
        if device != .cpu {
            let out = try newGPU(shape: shape, dtype: dtype)
            try out.onGPU { cuda, state, _ throws(CUDAError) in
                try cuda.launch(state, "relu_f32", count: count, [out.cudaBuffer!.address, self.cudaBuffer!.address, UInt64(count)] as [Any])
            }
            return out
        }
        let input = hostTensor!
        let dtype = dtype
        // One pass into a fresh buffer (NaN stays NaN, as in PyTorch).
        let result = try Tensor(dtype: dtype, shape: shape) { out in
            input.withUnsafeBytes { bytes in
                if dtype == .float32 {
                    let p = bytes.bindMemory(to: Float.self), q = out.bindMemory(to: Float.self)
                    parallelFor(count) { range in for i in range { q[i] = p[i] < 0 ? 0 : p[i] } }
                } else {
                    let p = bytes.bindMemory(to: Double.self), q = out.bindMemory(to: Double.self)
                    parallelFor(count) { range in for i in range { q[i] = p[i] < 0 ? 0 : p[i] } }
                }
            }
        }
        return NDArray(result)
    }

    // MARK: - Reductions

    /// The sum of all elements, as a 0-d array on the same device.
    public func sum() throws -> NDArray { try reduce(axis: nil, mean: false) }
    /// The mean of all elements, as a 0-d array on the same device.
    public func mean() throws -> NDArray { try reduce(axis: nil, mean: true) }
    /// The sum along `axis` (negative counts from the end), removing that axis.
    public func sum(axis: Int) throws -> NDArray { try reduce(axis: axis, mean: false) }
    /// The mean along `axis` (negative counts from the end), removing that axis.
    public func mean(axis: Int) throws -> NDArray { try reduce(axis: axis, mean: true) }

    func reduce(axis: Int?, mean: Bool) throws -> NDArray {
        try requireFloat(mean ? "mean" : "sum")
        var outer = 1, length = count, inner = 1
        var outShape: [Int] = []
        if let axis {
            let a = axis < 0 ? axis + rank : axis
            guard a >= 0 && a < rank else { throw RuntimeError(.invalidArgument, "axis \(axis) is out of range for rank \(rank)") }
            outer = shape[..<a].reduce(1, *)
            length = shape[a]
            inner = shape[(a + 1)...].reduce(1, *)
            outShape = Array(shape[..<a]) + Array(shape[(a + 1)...])
        }
        let scale = mean ? 1 / Double(max(length, 1)) : 1
        if mean && length == 0 {
            // Like PyTorch: the mean of nothing is NaN.
            return try NDArray(try Tensor(zeros: outShape, dtype: dtype), on: device) + Double.nan
        }
        if device != .cpu {
            guard inner == 1 || outer == 1 else {
                throw RuntimeError(.shapeMismatch, "reducing axis \(axis ?? 0) of \(shape) on \(device) is not supported; reshape to 2-d first")
            }
            let out = try newGPU(shape: outShape, dtype: dtype)
            let ones = try newGPU(shape: [max(length, 1)], dtype: .float32)
            try out.onGPU { cuda, state, _ throws(CUDAError) in
                try cuda.launch(state, "fill_f32", count: length, [ones.cudaBuffer!.address, Float(1), UInt64(length)] as [Any])
                var alpha = Float(scale), beta = Float(0)
                // Row-major [outer, length] (inner == 1) is column-major [length, outer]: y = Aᵀ·1.
                // Row-major [length, inner] (outer == 1) is column-major [inner, length]: y = A·1.
                let code: Int32
                if inner == 1 {
                    code = cuda.cublasSgemv(state.blas, 1, Int32(length), Int32(outer), &alpha, self.cudaBuffer!.address, Int32(max(length, 1)),
                                            ones.cudaBuffer!.address, 1, &beta, out.cudaBuffer!.address, 1)
                } else {
                    code = cuda.cublasSgemv(state.blas, 0, Int32(inner), Int32(length), &alpha, self.cudaBuffer!.address, Int32(inner),
                                            ones.cudaBuffer!.address, 1, &beta, out.cudaBuffer!.address, 1)
                }
                try cuda.checkBlas(code, "cublasSgemv_v2")
            }
            return out
        }
        let values = hostTensor!
        let read = Tensor.elementReader(dtype)
        var sums = [Double](repeating: 0, count: outer * inner)
        values.withUnsafeBytes { bytes in
            for o in 0..<outer {
                for l in 0..<length {
                    let base = (o * length + l) * inner
                    for i in 0..<inner { sums[o * inner + i] += read(bytes, base + i) }
                }
            }
        }
        let result = try Tensor(shape: outShape, scalars: sums.map { $0 * scale }).converted(to: dtype)
        return NDArray(result)
    }

    // MARK: - Shape

    /// The transpose of a 2-d array.
    public func transposed() throws -> NDArray {
        guard rank == 2 else { throw RuntimeError(.shapeMismatch, "transposed() needs a 2-d array, found shape \(shape)") }
        let host = try to(.cpu).tensor()
        let rows = shape[0], columns = shape[1], item = dtype.itemSize
        let result = try Tensor(dtype: dtype, shape: [columns, rows]) { out in
            host.withUnsafeBytes { input in
                for r in 0..<rows {
                    for c in 0..<columns {
                        (out.baseAddress! + (c * rows + r) * item).copyMemory(from: input.baseAddress! + (r * columns + c) * item, byteCount: item)
                    }
                }
            }
        }
        return try NDArray(result, on: device)
    }
}
