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
    /// Tensors of fewer bytes than this (non-empty, without metadata, not
    /// compressed) are packed back to back into one arena dataset per dtype
    /// instead of a dataset each (Spec §18): a save of many small tensors
    /// costs one HDF5 object per arena, not one per tensor. h5py still reads
    /// each through its region reference. `nil` gives every tensor its own
    /// dataset. A file with packed tensors declares version 1.4, which Sheaf
    /// readers before 1.4 do not read.
    public var packingThreshold: Int?
    /// Files of at least this many tensors also get a binary index (Spec §8.2):
    /// the JSON index's entries as fixed records, which ``SheafFile`` reads at
    /// open instead of parsing the JSON (a 10,000-tensor file opens several
    /// times faster). `nil` writes none. A file with a binary index declares
    /// version 1.5; readers of earlier versions read its JSON index as before.
    public var binaryIndexThreshold: Int?

    /// The default block size: 1 MiB (an index grows by ~20 bytes per MiB of data).
    public static let defaultBlockSize = 1 << 20
    /// The default packing threshold: tensors under 64 KiB are packed (biases,
    /// norms, small embeddings); weight matrices keep a dataset each.
    public static let defaultPackingThreshold = 64 << 10
    /// The default binary-index threshold: files of 1,000 tensors or more,
    /// where the JSON's parse costs about a millisecond; below it the four
    /// extra datasets cost a reader as much as they save.
    public static let defaultBinaryIndexThreshold = 1_000

    public init(compression: Compression = .none, checksum: ChecksumAlgorithm = .xxh3_64,
                blockSize: Int? = SaveOptions.defaultBlockSize,
                packingThreshold: Int? = SaveOptions.defaultPackingThreshold,
                binaryIndexThreshold: Int? = SaveOptions.defaultBinaryIndexThreshold) {
        self.compression = compression
        self.checksum = checksum
        self.blockSize = blockSize
        self.packingThreshold = packingThreshold
        self.binaryIndexThreshold = binaryIndexThreshold
    }

    public static let `default` = SaveOptions()
}
