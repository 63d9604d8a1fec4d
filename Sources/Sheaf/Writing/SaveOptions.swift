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
    /// Tensors larger than this many bytes also get a checksum per block of
    /// this size (Spec §9.1), so that ``SheafFile/tensor(_:slice:verifyChecksum:)``
    /// verifies a slice by reading only the blocks it touches. `nil` records
    /// none. A file with block checksums declares version 1.2.
    public var blockSize: Int?

    /// The default block size: 1 MiB (an index grows by ~20 bytes per MiB of data).
    public static let defaultBlockSize = 1 << 20

    public init(compression: Compression = .none, checksum: ChecksumAlgorithm = .xxh3_64,
                blockSize: Int? = SaveOptions.defaultBlockSize) {
        self.compression = compression
        self.checksum = checksum
        self.blockSize = blockSize
    }

    public static let `default` = SaveOptions()
}
