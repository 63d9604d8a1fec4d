import Sheaf

/// A model-like state dict whose every element is a function of the seed,
/// the key and the element's index, so any rank computes any slice of it
/// without the rest: the same seed gives the same global tensors at any
/// world size.
struct SeededModel {
    enum Sharding: String { case rows, columns, replicated }

    struct Parameter {
        var key: String
        var dtype: DType
        var shape: [Int]
        var sharding: Sharding
    }

    let seed: UInt64
    let parameters: [Parameter]

    /// An embedding (vocab-parallel, rows), `layers` transformer blocks
    /// (fused QKV rows, output projection columns, a replicated norm, a
    /// bfloat16 MLP: up by rows, down by columns) and a replicated step counter.
    init(seed: UInt64, hidden: Int, layers: Int) {
        self.seed = seed
        var parameters = [Parameter(key: "embed.weight", dtype: .float32, shape: [8 * hidden, hidden], sharding: .rows)]
        for layer in 0..<layers {
            let prefix = "layers.\(layer)."
            parameters += [
                Parameter(key: prefix + "attention.qkv.weight", dtype: .float32, shape: [3 * hidden, hidden], sharding: .rows),
                Parameter(key: prefix + "attention.proj.weight", dtype: .float32, shape: [hidden, hidden], sharding: .columns),
                Parameter(key: prefix + "norm.weight", dtype: .float32, shape: [hidden], sharding: .replicated),
                Parameter(key: prefix + "mlp.up.weight", dtype: .bfloat16, shape: [4 * hidden, hidden], sharding: .rows),
                Parameter(key: prefix + "mlp.down.weight", dtype: .bfloat16, shape: [hidden, 4 * hidden], sharding: .columns),
            ]
        }
        parameters.append(Parameter(key: "step", dtype: .int64, shape: [], sharding: .replicated))
        self.parameters = parameters
    }

    /// Total bytes of the global tensors.
    var byteCount: Int { parameters.reduce(0) { $0 + $1.shape.reduce($1.dtype.itemSize, *) } }

    /// The ranges rank `rank` of `size` holds of `parameter`; `transposed`
    /// shards row-sharded tensors by columns and column-sharded ones by rows.
    func ranges(_ parameter: Parameter, rank: Int, of size: Int, transposed: Bool = false) -> [Range<Int>] {
        var ranges = parameter.shape.map { 0..<$0 }
        var sharding = parameter.sharding
        if transposed { sharding = sharding == .rows ? .columns : sharding == .columns ? .rows : .replicated }
        switch sharding {
        case .rows where !ranges.isEmpty:
            ranges[0] = TensorShard.range(part: rank, of: size, length: parameter.shape[0])
        case .columns where ranges.count > 1:
            ranges[1] = TensorShard.range(part: rank, of: size, length: parameter.shape[1])
        default: break
        }
        return ranges
    }

    /// The elements of `ranges` of the parameter at `position`.
    func slice(_ position: Int, _ ranges: [Range<Int>]) throws -> Tensor {
        let parameter = parameters[position]
        let shape = ranges.map(\.count)
        var strides = [Int](repeating: 1, count: parameter.shape.count)
        for d in stride(from: parameter.shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * parameter.shape[d + 1] }
        let salt = seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(position) &* 0xD1B5_4A32_D192_ED03
        return try Tensor(dtype: parameter.dtype, shape: shape) { buffer in
            let count = shape.reduce(1, *)
            guard count > 0 else { return }
            // Row by row (the last dimension is contiguous in the global order too).
            let rank = shape.count
            let rowLength = rank == 0 ? 1 : shape[rank - 1]
            let rowStart = rank == 0 ? 0 : ranges[rank - 1].lowerBound
            var index = [Int](repeating: 0, count: max(rank - 1, 0))
            var element = 0
            for _ in 0..<(count / rowLength) {
                var base = rowStart
                for d in 0..<index.count { base += (ranges[d].lowerBound + index[d]) * strides[d] }
                for j in 0..<rowLength {
                    let bits = Self.mix(salt ^ UInt64(base + j))
                    switch parameter.dtype {
                    case .float32:
                        let value = Float(bits >> 40) / Float(1 << 23) - 1
                        buffer.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: element * 4, as: UInt32.self)
                    case .bfloat16:
                        let value = Float(bits >> 40) / Float(1 << 23) - 1
                        buffer.storeBytes(of: UInt16(value.bitPattern >> 16).littleEndian, toByteOffset: element * 2, as: UInt16.self)
                    default:
                        buffer.storeBytes(of: bits.littleEndian, toByteOffset: element * 8, as: UInt64.self)
                    }
                    element += 1
                }
                var d = index.count - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < shape[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
    }

    /// SplitMix64's finalizer.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
