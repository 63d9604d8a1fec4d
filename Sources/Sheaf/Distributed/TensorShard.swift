/// The piece of a global tensor one rank holds: the block of `shape` that
/// starts at `start` and has `tensor`'s shape.
public struct TensorShard: Sendable {
    /// The global tensor's key.
    public var key: String
    /// The global tensor's shape.
    public var shape: [Int]
    /// Where the piece starts along each dimension of ``shape``.
    public var start: [Int]
    /// The piece's elements; its shape is the block's extent.
    public var tensor: Tensor

    public init(key: String, shape: [Int], start: [Int], tensor: Tensor) {
        self.key = key
        self.shape = shape
        self.start = start
        self.tensor = tensor
    }

    /// A tensor every rank holds whole (a replicated parameter); it is
    /// written once, by the lowest rank holding it.
    public static func replicated(_ key: String, _ tensor: Tensor) -> TensorShard {
        TensorShard(key: key, shape: tensor.shape, start: tensor.shape.map { _ in 0 }, tensor: tensor)
    }

    /// The part of `0..<length` that part `part` of `parts` near-equal
    /// consecutive parts holds (the first `length % parts` parts one longer).
    public static func range(part: Int, of parts: Int, length: Int) -> Range<Int> {
        guard parts > 0, (0..<parts).contains(part), length >= 0 else { return 0..<0 }
        let base = length / parts, extra = length % parts
        let start = part * base + min(part, extra)
        return start..<(start + base + (part < extra ? 1 : 0))
    }
}
