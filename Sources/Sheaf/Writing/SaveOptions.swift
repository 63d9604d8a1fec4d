/// How ``StateDict/save(to:options:)`` and friends store data.
public struct SaveOptions: Sendable, Equatable {
    /// Storage of tensor data.
    public enum Compression: Sendable, Equatable {
        /// Contiguous, 64-byte aligned, memory-mappable.
        case none
        /// Chunked, shuffle then deflate (zlib) at `level` 1-9.
        case deflate(level: Int)
    }

    public var compression: Compression
    /// The checksum written for every tensor.
    public var checksum: ChecksumAlgorithm

    public init(compression: Compression = .none, checksum: ChecksumAlgorithm = .xxh3_64) {
        self.compression = compression
        self.checksum = checksum
    }

    public static let `default` = SaveOptions()
}
