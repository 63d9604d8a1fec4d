import COpenBLAS
import Glibc
import Sheaf

extension NDArray {
    /// A new host array of `shape` and `dtype` whose every element `fill` writes.
    /// The shape comes from arrays that exist, so its byte count is valid.
    static func host<T>(_ shape: [Int], as type: T.Type, dtype: DType,
                        _ fill: (UnsafeMutableBufferPointer<T>) -> Void) -> NDArray {
        NDArray(Tensor.filling(dtype: dtype, shape: shape) { fill($0.bindMemory(to: T.self)) })
    }

    /// A new float32 host array of `shape` whose every element `fill` writes.
    static func host(_ shape: [Int], _ fill: (UnsafeMutableBufferPointer<Float>) -> Void) -> NDArray {
        host(shape, as: Float.self, dtype: .float32, fill)
    }

    /// The float32 host elements.
    func withHost<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R { try withHost(as: Float.self, body) }

    /// The host elements as `T` (the caller checked the dtype).
    func withHost<T, R>(as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        guard case .host(let tensor) = storage else {
            preconditionFailure("a CPU operation was given a \(device) array")
        }
        return try tensor.withUnsafeBytes { try body($0.bindMemory(to: T.self)) }
    }
}

/// The CPU: OpenBLAS for products, Swift loops split over the cores for the rest.
struct CPUBackend: Backend {
    var device: Device { .cpu }

    // MARK: Elementwise

    func binary(_ op: BinaryOperation, _ a: NDArray, _ b: NDArray, shape: [Int]) throws -> NDArray {
        let count = shape.reduce(1, *)
        if a.dtype == .float64 {
            return NDArray.host(shape, as: Double.self, dtype: .float64) { out in
                a.withHost(as: Double.self) { x in b.withHost(as: Double.self) { y in
                    Self.broadcast(x, a.shape, y, b.shape, out, shape, count, op)
                } }
            }
        }
        return NDArray.host(shape) { out in
            a.withHost { x in b.withHost { y in Self.broadcast(x, a.shape, y, b.shape, out, shape, count, op) } }
        }
    }

    static func broadcast<T: BinaryFloatingPoint>(_ a: UnsafeBufferPointer<T>, _ aShape: [Int], _ b: UnsafeBufferPointer<T>,
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
        let sa = NDArray.broadcastStrides(aShape, to: shape), sb = NDArray.broadcastStrides(bShape, to: shape)
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

    func equal(_ a: NDArray, _ b: NDArray, shape: [Int]) throws -> NDArray {
        let x = try a.tensor().converted(to: .float64).scalars(as: Double.self)
        let y = try b.tensor().converted(to: .float64).scalars(as: Double.self)
        let sa = NDArray.broadcastStrides(a.shape, to: shape), sb = NDArray.broadcastStrides(b.shape, to: shape)
        let count = shape.reduce(1, *)
        return NDArray.host(shape, as: Bool.self, dtype: .bool) { out in
            for i in 0..<count {
                var rest = i, ia = 0, ib = 0
                for d in stride(from: shape.count - 1, through: 0, by: -1) {
                    let index = rest % shape[d]
                    rest /= shape[d]
                    ia += index * sa[d]
                    ib += index * sb[d]
                }
                out[i] = x[ia] == y[ib]
            }
        }
    }

    func unary(_ op: UnaryOperation, _ x: NDArray) throws -> NDArray {
        let count = x.count
        if x.dtype == .float64 {
            guard op == .relu else { throw unsupported("\(op) of float64") }
            return NDArray.host(x.shape, as: Double.self, dtype: .float64) { out in
                x.withHost(as: Double.self) { p in parallelFor(count) { r in for i in r { out[i] = p[i] < 0 ? 0 : p[i] } } }
            }
        }
        return NDArray.host(x.shape) { out in
            x.withHost { p in
                switch op {
                // NaN stays NaN, as in PyTorch.
                case .relu: parallelFor(count) { r in for i in r { out[i] = p[i] < 0 ? 0 : p[i] } }
                case .gelu:
                    parallelFor(count, minimumChunk: 4096) { r in for i in r { let v = p[i]; out[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) } }
                case .geluTanh:
                    let c: Float = 0.79788456080286536  // √(2/π)
                    parallelFor(count, minimumChunk: 4096) { r in
                        for i in r { let v = p[i]; out[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v))) }
                    }
                case .silu: parallelFor(count, minimumChunk: 4096) { r in for i in r { let v = p[i]; out[i] = v / (1 + expf(-v)) } }
                case .sigmoid: parallelFor(count, minimumChunk: 4096) { r in for i in r { out[i] = 1 / (1 + expf(-p[i])) } }
                case .tanh: parallelFor(count, minimumChunk: 4096) { r in for i in r { out[i] = tanhf(p[i]) } }
                }
            }
        }
    }

    // MARK: Reductions

    func reduce(_ x: NDArray, outer: Int, length: Int, inner: Int, outShape: [Int], scale: Double) throws -> NDArray {
        if x.dtype == .float32 && inner == 1 {
            // Contiguous rows: blocks of 8 float lanes, each block's sum added in double.
            var sums = [Double](repeating: 0, count: outer)
            x.withHost { p in
                sums.withUnsafeMutableBufferPointer { totals in
                    if outer == 1 {
                        let chunk = 1 << 16, chunks = (length + chunk - 1) / chunk
                        var partial = [Double](repeating: 0, count: chunks)
                        partial.withUnsafeMutableBufferPointer { parts in
                            parallelFor(chunks, minimumChunk: 4) { range in
                                for c in range { parts[c] = Self.sumRow(p.baseAddress! + c * chunk, min(chunk, length - c * chunk)) }
                            }
                        }
                        totals[0] = partial.reduce(0, +)
                    } else {
                        parallelFor(outer, minimumChunk: max(1, 32768 / max(length, 1))) { range in
                            for o in range { totals[o] = Self.sumRow(p.baseAddress! + o * length, length) }
                        }
                    }
                }
            }
            return NDArray(try Tensor(shape: outShape, scalars: sums.map { Float($0 * scale) }))
        }
        let values = try x.tensor()
        let read = Tensor.elementReader(x.dtype)
        var sums = [Double](repeating: 0, count: outer * inner)
        values.withUnsafeBytes { bytes in
            for o in 0..<outer {
                for l in 0..<length {
                    let base = (o * length + l) * inner
                    for i in 0..<inner { sums[o * inner + i] += read(bytes, base + i) }
                }
            }
        }
        return NDArray(try Tensor(shape: outShape, scalars: sums.map { $0 * scale }).converted(to: x.dtype))
    }

    /// The sum of `count` floats: eight lanes in float over blocks of 1024, blocks added in double.
    static func sumRow(_ p: UnsafePointer<Float>, _ count: Int) -> Double {
        var total = 0.0, start = 0
        while start < count {
            let end = min(count, start + 1024)
            var lanes = SIMD8<Float>()
            var i = start
            while i + 8 <= end {
                lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
                i += 8
            }
            var block = Double(lanes.sum())
            while i < end { block += Double(p[i]); i += 1 }
            total += block
            start = end
        }
        return total
    }

    // MARK: Products

    func gemm(_ a: NDArray, _ b: NDArray, batch: Int, m: Int, n: Int, k: Int, aStride: Int, bStride: Int,
              transposeB: Bool, outShape: [Int]) throws -> NDArray {
        a.dtype == .float64
            ? Self.gemm(Double.self, a, b, batch: batch, m: m, n: n, k: k, aStride: aStride, bStride: bStride, transposeB: transposeB, outShape: outShape)
            : Self.gemm(Float.self, a, b, batch: batch, m: m, n: n, k: k, aStride: aStride, bStride: bStride, transposeB: transposeB, outShape: outShape)
    }

    static func gemm<T: BLASScalar>(_ type: T.Type, _ a: NDArray, _ b: NDArray, batch: Int, m: Int, n: Int, k: Int,
                                    aStride: Int, bStride: Int, transposeB: Bool, outShape: [Int]) -> NDArray {
        NDArray.host(outShape, as: T.self, dtype: a.dtype) { c in
            a.withHost(as: T.self) { pa in b.withHost(as: T.self) { pb in
                guard m > 0, n > 0 else { return }
                guard k > 0 else { c.initialize(repeating: 0); return }
                for i in 0..<batch {
                    // GEMM with beta 0 writes every element: no need to clear the output first.
                    T.gemm(transposeB: transposeB, m: m, n: n, k: k, a: pa.baseAddress! + i * aStride, lda: k,
                           b: pb.baseAddress! + i * bStride, ldb: transposeB ? k : n, beta: 0, c: c.baseAddress! + i * m * n, ldc: n)
                }
            } }
        }
    }

    func linear(_ x: NDArray, weight: NDArray, bias: NDArray?, layout: WeightLayout, rows: Int, outShape: [Int]) throws -> NDArray {
        x.dtype == .float64
            ? Self.linear(Double.self, x, weight: weight, bias: bias, layout: layout, rows: rows, outShape: outShape)
            : Self.linear(Float.self, x, weight: weight, bias: bias, layout: layout, rows: rows, outShape: outShape)
    }

    static func linear<T: BLASScalar>(_ type: T.Type, _ x: NDArray, weight: NDArray, bias: NDArray?, layout: WeightLayout,
                                      rows: Int, outShape: [Int]) -> NDArray {
        let (input, output) = layout == .outIn ? (weight.shape[1], weight.shape[0]) : (weight.shape[0], weight.shape[1])
        return NDArray.host(outShape, as: T.self, dtype: x.dtype) { c in
            // Every output element is written: by the bias rows (then BLAS adds, beta 1) or by BLAS (beta 0).
            fillBias(c, bias, rows: rows, output: output)
            guard rows > 0, output > 0, input > 0 else { if bias == nil { c.initialize(repeating: 0) }; return }
            let beta: T = bias == nil ? 0 : 1
            x.withHost(as: T.self) { pa in weight.withHost(as: T.self) { pw in
                if rows == 1 {
                    // One row (decoding a token): a matrix-vector product streams the weight once.
                    T.gemv(transposed: layout == .inOut, rows: layout == .outIn ? output : input, columns: layout == .outIn ? input : output,
                           a: pw.baseAddress!, x: pa.baseAddress!, beta: beta, y: c.baseAddress!)
                } else {
                    T.gemm(transposeB: layout == .outIn, m: rows, n: output, k: input, a: pa.baseAddress!, lda: input,
                           b: pw.baseAddress!, ldb: layout == .outIn ? input : output, beta: beta, c: c.baseAddress!, ldc: output)
                }
            } }
        }
    }

    static func fillBias<T>(_ c: UnsafeMutableBufferPointer<T>, _ bias: NDArray?, rows: Int, output: Int) {
        guard let bias else { return }
        bias.withHost(as: T.self) { b in
            for row in 0..<rows { _ = UnsafeMutableBufferPointer(rebasing: c[(row * output)..<((row + 1) * output)]).update(fromContentsOf: b) }
        }
    }

    // MARK: Shape

    func permute(_ x: NDArray, axes: [Int], outShape: [Int]) throws -> NDArray {
        let shape = x.shape, item = x.dtype.itemSize
        var inStrides = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * shape[d + 1] }
        let strides = axes.map { inStrides[$0] }
        let rank = outShape.count, count = outShape.reduce(1, *)
        let tensor = try x.tensor()
        let result = Tensor.filling(dtype: x.dtype, shape: outShape) { out in
            guard count > 0 else { return }
            tensor.withUnsafeBytes { input in
                let inner = outShape[rank - 1], innerStride = strides[rank - 1]
                let rows = count / inner
                parallelFor(rows, minimumChunk: max(1, 4096 / max(inner, 1))) { range in
                    for row in range {
                        var rest = row, offset = 0
                        for d in stride(from: rank - 2, through: 0, by: -1) {
                            offset += (rest % outShape[d]) * strides[d]
                            rest /= outShape[d]
                        }
                        let target = out.baseAddress! + row * inner * item
                        if innerStride == 1 {
                            target.copyMemory(from: input.baseAddress! + offset * item, byteCount: inner * item)
                        } else if item == 4 {
                            let source = (input.baseAddress! + offset * 4).assumingMemoryBound(to: UInt32.self)
                            let destination = target.assumingMemoryBound(to: UInt32.self)
                            for k in 0..<inner { destination[k] = source[k * innerStride] }
                        } else {
                            for k in 0..<inner {
                                (target + k * item).copyMemory(from: input.baseAddress! + (offset + k * innerStride) * item, byteCount: item)
                            }
                        }
                    }
                }
            }
        }
        return NDArray(result)
    }

    func concat(_ parts: [NDArray], axis: Int, outShape: [Int]) throws -> NDArray {
        let item = parts[0].dtype.itemSize
        let outer = outShape[..<axis].reduce(1, *), inner = outShape[(axis + 1)...].reduce(1, *)
        let tensors = try parts.map { try $0.tensor() }
        let result = Tensor.filling(dtype: parts[0].dtype, shape: outShape) { out in
            let rowBytes = outShape[axis] * inner * item
            var column = 0
            for tensor in tensors {
                let partBytes = tensor.shape[axis] * inner * item
                tensor.withUnsafeBytes { source in
                    guard partBytes > 0 else { return }
                    for o in 0..<outer {
                        (out.baseAddress! + o * rowBytes + column).copyMemory(from: source.baseAddress! + o * partBytes, byteCount: partBytes)
                    }
                }
                column += partBytes
            }
        }
        return NDArray(result)
    }

    func slice(_ x: NDArray, axis: Int, range: Range<Int>, outShape: [Int]) throws -> NDArray {
        let item = x.dtype.itemSize, shape = x.shape
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        let tensor = try x.tensor()
        let result = Tensor.filling(dtype: x.dtype, shape: outShape) { out in
            let rowBytes = range.count * inner * item, sourceRow = shape[axis] * inner * item
            guard rowBytes > 0 else { return }
            tensor.withUnsafeBytes { source in
                for o in 0..<outer {
                    (out.baseAddress! + o * rowBytes).copyMemory(from: source.baseAddress! + o * sourceRow + range.lowerBound * inner * item,
                                                                 byteCount: rowBytes)
                }
            }
        }
        return NDArray(result)
    }

    func convert(_ x: NDArray, to dtype: DType) throws -> NDArray {
        do { return NDArray(try x.tensor().converted(to: dtype)) } catch { throw RuntimeError(.dtypeUnsupported, "\(error)") }
    }

    // MARK: Neural-network operations

    func softmax(_ x: NDArray, causalOffset: Int?) throws -> NDArray {
        let columns = x.shape.last ?? 1, rows = x.count / max(columns, 1)
        let blockRows = x.rank >= 2 ? x.shape[x.rank - 2] : 1
        return NDArray.host(x.shape) { out in
            x.withHost { p in
                parallelFor(rows, minimumChunk: max(1, 8192 / max(columns, 1))) { range in
                    for row in range {
                        let limit = causalOffset.map { min(columns, row % blockRows + $0 + 1) } ?? columns
                        Self.softmaxRow(p.baseAddress! + row * columns, out.baseAddress! + row * columns, columns: columns, visible: limit)
                    }
                }
            }
        }
    }

    /// A numerically stable softmax of `visible` values (the rest of the row is zero).
    @inline(__always)
    static func softmaxRow(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, columns: Int, visible: Int) {
        guard visible > 0 else { output.update(repeating: .nan, count: columns); return }
        var largest = -Float.infinity
        for i in 0..<visible { largest = max(largest, input[i]) }
        var total: Float = 0
        for i in 0..<visible { let e = expf(input[i] - largest); output[i] = e; total += e }
        let scale = 1 / total
        for i in 0..<visible { output[i] *= scale }
        if visible < columns { (output + visible).update(repeating: 0, count: columns - visible) }
    }

    func layerNorm(_ x: NDArray, weight: NDArray?, bias: NDArray?, epsilon: Float) throws -> NDArray {
        let columns = x.shape.last ?? 1, rows = x.count / max(columns, 1)
        return NDArray.host(x.shape) { out in
            x.withHost { p in
                let w = weight.map { $0.withHost { Array($0) } }, b = bias.map { $0.withHost { Array($0) } }
                parallelFor(rows, minimumChunk: max(1, 8192 / max(columns, 1))) { range in
                    for row in range {
                        let input = p.baseAddress! + row * columns, output = out.baseAddress! + row * columns
                        var sum: Float = 0
                        for i in 0..<columns { sum += input[i] }
                        let mean = sum / Float(columns)
                        var squares: Float = 0
                        for i in 0..<columns { let d = input[i] - mean; squares += d * d }
                        let inverse = 1 / (squares / Float(columns) + epsilon).squareRoot()
                        for i in 0..<columns {
                            var v = (input[i] - mean) * inverse
                            if let w { v *= w[i] }
                            if let b { v += b[i] }
                            output[i] = v
                        }
                    }
                }
            }
        }
    }

    func rmsNorm(_ x: NDArray, weight: NDArray?, epsilon: Float) throws -> NDArray {
        let columns = x.shape.last ?? 1, rows = x.count / max(columns, 1)
        return NDArray.host(x.shape) { out in
            x.withHost { p in
                let w = weight.map { $0.withHost { Array($0) } }
                parallelFor(rows, minimumChunk: max(1, 8192 / max(columns, 1))) { range in
                    for row in range {
                        let input = p.baseAddress! + row * columns, output = out.baseAddress! + row * columns
                        var squares: Float = 0
                        for i in 0..<columns { squares += input[i] * input[i] }
                        let inverse = 1 / (squares / Float(columns) + epsilon).squareRoot()
                        for i in 0..<columns { output[i] = (w?[i] ?? 1) * (input[i] * inverse) }
                    }
                }
            }
        }
    }

    func embedding(_ weight: NDArray, ids: [Int], outShape: [Int]) throws -> NDArray {
        let width = weight.shape[1]
        return NDArray.host(outShape) { out in
            weight.withHost { table in
                for (row, id) in ids.enumerated() {
                    (out.baseAddress! + row * width).update(from: table.baseAddress! + id * width, count: width)
                }
            }
        }
    }

    func rope(_ x: NDArray, offset: Int, inverseFrequencies: [Float]) throws -> NDArray {
        let (t, d) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let half = d / 2, heads = x.count / max(t * d, 1)
        // cos and sin per position, as float32 products like the reference.
        var cosines = [Float](repeating: 0, count: t * half), sines = cosines
        for p in 0..<t {
            for j in 0..<half {
                let angle = Float(offset + p) * inverseFrequencies[j]
                cosines[p * half + j] = cosf(angle)
                sines[p * half + j] = sinf(angle)
            }
        }
        return NDArray.host(x.shape) { out in
            x.withHost { input in
                cosines.withUnsafeBufferPointer { cs in sines.withUnsafeBufferPointer { sn in
                    parallelFor(heads * t, minimumChunk: max(1, 8192 / max(d, 1))) { range in
                        for row in range {
                            let p = row % t, base = row * d
                            for j in 0..<half {
                                let c = cs[p * half + j], s = sn[p * half + j]
                                let a = input[base + j], b = input[base + j + half]
                                out[base + j] = a * c - b * s
                                out[base + j + half] = b * c + a * s
                            }
                        }
                    }
                } }
            }
        }
    }

    func attention(_ q: NDArray, _ k: NDArray, _ v: NDArray, scale: Float, causalOffset: Int?) throws -> NDArray {
        let (batch, heads, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (kvHeads, s) = (k.shape[1], k.shape[2])
        let group = heads / kvHeads
        return NDArray.host(q.shape) { out in
            q.withHost { pq in k.withHost { pk in v.withHost { pv in
                guard t > 0, d > 0 else { return }
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(t * s, 1))
                defer { scores.deallocate() }
                for b in 0..<batch {
                    for h in 0..<heads {
                        let kv = b * kvHeads + h / group
                        let qBase = pq.baseAddress! + (b * heads + h) * t * d
                        let kBase = pk.baseAddress! + kv * s * d, vBase = pv.baseAddress! + kv * s * d
                        let oBase = out.baseAddress! + (b * heads + h) * t * d
                        guard s > 0 else { oBase.update(repeating: 0, count: t * d); continue }
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(s), Int32(d), scale,
                                    qBase, Int32(d), kBase, Int32(d), 0, scores, Int32(s))
                        for row in 0..<t {
                            let visible = causalOffset.map { min(s, row + $0 + 1) } ?? s
                            Self.softmaxRow(scores + row * s, scores + row * s, columns: s, visible: visible)
                        }
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(t), Int32(d), Int32(s), 1,
                                    scores, Int32(s), vBase, Int32(d), 0, oBase, Int32(d))
                    }
                }
            } } }
        }
    }

    func conv2d(_ x: NDArray, weight: NDArray, bias: NDArray?, window: Window2D, groups: Int, outShape: [Int],
                epilogue: ConvolutionEpilogue) throws -> NDArray {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, oh, ow) = (outShape[1], outShape[2], outShape[3])
        let (kh, kw) = window.kernel
        let cg = c / groups, og = o / groups
        let patch = cg * kh * kw, pixels = oh * ow
        let direct = kh == 1 && kw == 1 && window.stride == (1, 1) && window.padding == (0, 0)
        // Images are unfolded side by side, [patch, images·pixels], so one GEMM
        // covers several: small feature maps (late layers) make wide products.
        // A group of images keeps the unfolded matrix near 32 MiB.
        let perGroup = direct && pixels >= 1024 ? 1 : max(1, min(n, (8 << 20) / max(patch * pixels, 1)))
        let columns = direct && perGroup == 1 ? nil : UnsafeMutablePointer<Float>.allocate(capacity: max(patch * pixels * perGroup, 1))
        let staging = perGroup > 1 ? UnsafeMutablePointer<Float>.allocate(capacity: max(og * pixels * perGroup, 1)) : nil
        defer { columns?.deallocate(); staging?.deallocate() }
        // A folded batch norm scales each output channel's weights and becomes its bias.
        var scaledWeights: UnsafeMutablePointer<Float>? = nil
        if let scale = epilogue.scale {
            let scaled = UnsafeMutablePointer<Float>.allocate(capacity: max(o * patch, 1))
            weight.withHost { pw in
                for channel in 0..<o {
                    let factor = scale[channel], base = channel * patch
                    for k in 0..<patch { scaled[base + k] = pw[base + k] * factor }
                }
            }
            scaledWeights = scaled
        }
        defer { scaledWeights?.deallocate() }
        var offsets: [Float]? = nil
        if bias != nil || epilogue.shift != nil {
            let b = bias?.withHost { Array($0) }
            offsets = (0..<o).map { (b?[$0] ?? 0) * (epilogue.scale?[$0] ?? 1) + (epilogue.shift?[$0] ?? 0) }
        }
        let residual = epilogue.residual, relu = epilogue.relu
        return NDArray.host(outShape) { out in
            x.withHost { px in weight.withHost { original in
                let pw = UnsafePointer(scaledWeights) ?? original.baseAddress!
                for first in stride(from: 0, to: n, by: perGroup) {
                    let count = min(perGroup, n - first), width = count * pixels
                    for g in 0..<groups {
                        var matrix: UnsafePointer<Float>
                        if let columns {
                            for image in 0..<count {
                                let input = px.baseAddress! + ((first + image) * c + g * cg) * h * w
                                if direct {
                                    for channel in 0..<cg {
                                        (columns + channel * width + image * pixels).update(from: input + channel * pixels, count: pixels)
                                    }
                                } else {
                                    Self.im2col(input, channels: cg, height: h, width: w, window: window, outHeight: oh, outWidth: ow,
                                                into: columns + image * pixels, rowStride: width)
                                }
                            }
                            matrix = UnsafePointer(columns)
                        } else {
                            matrix = UnsafePointer(px.baseAddress! + (first * c + g * cg) * h * w)
                        }
                        // The product lands in the output directly for one image, else in staging, then per image.
                        let target = staging ?? out.baseAddress! + (first * o + g * og) * pixels
                        if let offsets {
                            for channel in 0..<og { (target + channel * width).update(repeating: offsets[g * og + channel], count: width) }
                        }
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(og), Int32(width), Int32(patch), 1,
                                    pw + g * og * patch, Int32(patch), matrix, Int32(width),
                                    offsets == nil ? 0 : 1, target, Int32(width))
                        for image in 0..<count {
                            for channel in 0..<og {
                                let index = ((first + image) * o + g * og + channel) * pixels
                                let row = out.baseAddress! + index
                                if let staging { row.update(from: staging + channel * width + image * pixels, count: pixels) }
                                if residual != nil || relu { Self.finish(row, pixels, residual, index, relu) }
                            }
                        }
                    }
                }
            } }
        }
    }

    /// Adds the residual's elements at `offset` and applies ReLU, in place.
    @inline(__always)
    static func finish(_ row: UnsafeMutablePointer<Float>, _ count: Int, _ residual: NDArray?, _ offset: Int, _ relu: Bool) {
        if let residual {
            residual.withHost { r in
                let source = r.baseAddress! + offset
                if relu { for i in 0..<count { let v = row[i] + source[i]; row[i] = v < 0 ? 0 : v } }
                else { for i in 0..<count { row[i] += source[i] } }
            }
        } else if relu {
            for i in 0..<count where row[i] < 0 { row[i] = 0 }
        }
    }

    /// Unfolds `[channels, height, width]` into the rows of `[channels·kh·kw, outHeight·outWidth]`
    /// (zero padding), row `r` starting at `columns + r·rowStride`.
    static func im2col(_ input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, window: Window2D,
                       outHeight: Int, outWidth: Int, into columns: UnsafeMutablePointer<Float>, rowStride: Int) {
        let (kh, kw) = window.kernel, (sh, sw) = window.stride, (ph, pw) = window.padding, (dh, dw) = window.dilation
        let pixels = outHeight * outWidth
        parallelFor(channels * kh * kw, minimumChunk: max(1, 16384 / max(pixels, 1))) { range in
            for row in range {
                let channel = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw
                let plane = input + channel * height * width
                let target = columns + row * rowStride
                // Output columns x read input column x·sw - pw + kj·dw: the valid ones form one range.
                let shift = kj * dw - pw
                let low = min(outWidth, shift >= 0 ? 0 : (-shift + sw - 1) / sw)
                let high = max(low, min(outWidth, width - shift <= 0 ? 0 : (width - shift - 1) / sw + 1))
                for y in 0..<outHeight {
                    let iy = y * sh - ph + ki * dh
                    let line = target + y * outWidth
                    if iy < 0 || iy >= height { line.update(repeating: 0, count: outWidth); continue }
                    let source = plane + iy * width + shift
                    if low > 0 { line.update(repeating: 0, count: low) }
                    if sw == 1 {
                        (line + low).update(from: source + low, count: high - low)
                    } else {
                        for x in low..<high { line[x] = source[x * sw] }
                    }
                    if high < outWidth { (line + high).update(repeating: 0, count: outWidth - high) }
                }
            }
        }
    }

    func batchNorm(_ x: NDArray, mean: NDArray, variance: NDArray, weight: NDArray?, bias: NDArray?, epsilon: Float) throws -> NDArray {
        let (n, c) = (x.shape[0], x.shape[1]), plane = x.count / max(n * c, 1)
        // y = x·scale + shift per channel, as PyTorch's inference kernel computes it.
        var scale = [Float](repeating: 1, count: c), shift = [Float](repeating: 0, count: c)
        mean.withHost { m in variance.withHost { v in
            for i in 0..<c {
                let inverse = 1 / (v[i] + epsilon).squareRoot()
                let w = weight?.withHost { $0[i] } ?? 1, b = bias?.withHost { $0[i] } ?? 0
                scale[i] = w * inverse
                shift[i] = b - m[i] * w * inverse
            }
        } }
        return NDArray.host(x.shape) { out in
            x.withHost { p in
                parallelFor(n * c, minimumChunk: max(1, 32768 / max(plane, 1))) { range in
                    for index in range {
                        let a = scale[index % c], b = shift[index % c], base = index * plane
                        for i in 0..<plane { out[base + i] = p[base + i] * a + b }
                    }
                }
            }
        }
    }

    func maxPool2d(_ x: NDArray, window: Window2D, outShape: [Int]) throws -> NDArray {
        let (h, w) = (x.shape[2], x.shape[3]), (oh, ow) = (outShape[2], outShape[3])
        let (kh, kw) = window.kernel, (sh, sw) = window.stride, (ph, pw) = window.padding, (dh, dw) = window.dilation
        let planes = x.shape[0] * x.shape[1]
        // Separable: the maximum along each row's windows, then down the columns
        // (kh + kw comparisons per output instead of kh·kw). NaN wins, as in PyTorch.
        @inline(__always) func better(_ value: Float, _ best: Float) -> Bool { value > best || value.isNaN }
        return NDArray.host(outShape) { out in
            x.withHost { p in
                parallelFor(planes, minimumChunk: max(1, 65536 / max(h * w, 1))) { range in
                    let rows = UnsafeMutablePointer<Float>.allocate(capacity: max(h * ow, 1))
                    defer { rows.deallocate() }
                    for plane in range {
                        let input = p.baseAddress! + plane * h * w, output = out.baseAddress! + plane * oh * ow
                        for iy in 0..<h {
                            let line = input + iy * w, target = rows + iy * ow
                            for xo in 0..<ow {
                                var best = -Float.infinity
                                let start = xo * sw - pw
                                for kj in 0..<kw {
                                    let ix = start + kj * dw
                                    if ix >= 0 && ix < w && better(line[ix], best) { best = line[ix] }
                                }
                                target[xo] = best
                            }
                        }
                        for y in 0..<oh {
                            let target = output + y * ow
                            target.update(repeating: -Float.infinity, count: ow)
                            for ki in 0..<kh {
                                let iy = y * sh - ph + ki * dh
                                guard iy >= 0 && iy < h else { continue }
                                let source = rows + iy * ow
                                for xo in 0..<ow where better(source[xo], target[xo]) { target[xo] = source[xo] }
                            }
                        }
                    }
                }
            }
        }
    }

    func adaptiveAveragePool2d(_ x: NDArray, outShape: [Int]) throws -> NDArray {
        let (h, w) = (x.shape[2], x.shape[3]), (oh, ow) = (outShape[2], outShape[3])
        let planes = x.shape[0] * x.shape[1]
        return NDArray.host(outShape) { out in
            x.withHost { p in
                parallelFor(planes, minimumChunk: 1) { range in
                    for plane in range {
                        let input = p.baseAddress! + plane * h * w
                        for y in 0..<oh {
                            // PyTorch's bins: [floor(i·in/out), ceil((i+1)·in/out)).
                            let y0 = y * h / oh, y1 = ((y + 1) * h + oh - 1) / oh
                            for xo in 0..<ow {
                                let x0 = xo * w / ow, x1 = ((xo + 1) * w + ow - 1) / ow
                                var sum: Float = 0
                                for iy in y0..<y1 { for ix in x0..<x1 { sum += input[iy * w + ix] } }
                                out[plane * oh * ow + y * ow + xo] = sum / Float((y1 - y0) * (x1 - x0))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The element types OpenBLAS multiplies: one generic path for float32 and float64.
protocol BLASScalar: BinaryFloatingPoint {
    /// Row-major C = A·B (Bᵀ when `transposeB`) + beta·C.
    static func gemm(transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Row-major y = A·x (Aᵀ·x when `transposed`) + beta·y for A `[rows, columns]`.
    static func gemv(transposed: Bool, rows: Int, columns: Int, a: UnsafePointer<Self>, x: UnsafePointer<Self>, beta: Self,
                     y: UnsafeMutablePointer<Self>)
}

extension Float: BLASScalar {
    static func gemm(transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    static func gemv(transposed: Bool, rows: Int, columns: Int, a: UnsafePointer<Float>, x: UnsafePointer<Float>, beta: Float,
                     y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns), 1, a, Int32(columns), x, 1, beta, y, 1)
    }
}

extension Double: BLASScalar {
    static func gemm(transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                     beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    static func gemv(transposed: Bool, rows: Int, columns: Int, a: UnsafePointer<Double>, x: UnsafePointer<Double>, beta: Double,
                     y: UnsafeMutablePointer<Double>) {
        cblas_dgemv(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns), 1, a, Int32(columns), x, 1, beta, y, 1)
    }
}
