import SheafHDF5
import Glibc

/// A Sheaf file opened lazily: its kind, metadata, keys, dtypes and shapes are
/// read from the index at open; tensor data is read only when asked for.
///
/// `SheafFile` owns the open file and closes it when it goes out of scope.
/// Every read checks the dataset against the index (dtype, shape, offset) and,
/// unless asked not to, the checksum, so a damaged file gives an error rather
/// than wrong values.
public struct SheafFile: ~Copyable {
    /// One tensor as the index describes it.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var dtype: DType
        public var shape: [Int]
        public var byteCount: Int
        public var storage: StorageKind
        /// File offset of contiguous little-endian raw data, when the writer recorded it.
        public var offset: Int?
        public var checksum: UInt64
        /// The earlier key this one is a second name for, if tied.
        public var tiedTo: String?
        /// Whether the tensor carries user metadata.
        public var hasMetadata: Bool
        /// The checksum of the tensor's metadata, when the writer recorded one.
        public var metadataChecksum: UInt64?
        /// The size of the blocks ``blockChecksums`` cover (Spec §9.1), when the
        /// writer recorded block checksums; what lets a slice be verified without
        /// reading the whole tensor.
        public var blockSize: Int? = nil
        /// The checksum of each consecutive ``blockSize`` bytes of the tensor's
        /// logical bytes (the last block may be shorter); empty without ``blockSize``.
        public var blockChecksums: [UInt64] = []
        /// Where a packed tensor lies (Spec §18); nil unless ``storage`` is `.packed`.
        public var packed: PackedPlacement? = nil
    }

    public let path: String
    public let kind: SheafKind
    /// The version the file declares, `"MAJOR.MINOR"`.
    public let version: String
    public let checksumAlgorithm: ChecksumAlgorithm
    /// The file's metadata (root attributes not reserved by the format).
    public let metadata: Metadata
    /// The nesting of the checkpoint the keys and metadata were flattened
    /// from (§8.1), when the file records one.
    public let structure: CheckpointNode?
    /// The file's checksum algorithm over its index's bytes: what a sharded
    /// set records to tell this shard from any other (§16).
    public let indexChecksum: UInt64
    /// The tensors, in key order.
    public let entries: [Entry]
    let positions: [String: Int]
    /// `/tensors`, opened once: resolving it from the root again for every
    /// tensor would scan the root's object header (every file attribute) each time.
    /// Declared before `file` so it is released first (closing the file closes
    /// every object in it).
    let tensors: HDF5Group
    let file: HDF5File
    let descriptor: Int32
    let fileSize: Int

    /// The keys in order.
    public var keys: [String] { entries.map(\.key) }

    deinit { close(descriptor) }

    /// The index entry for `key`.
    public func entry(_ key: String) throws(SheafError) -> Entry {
        guard let position = positions[key] else {
            throw SheafError(.keyNotFound, file: path, key: key, "no such key; the file has \(entries.count) keys")
        }
        return entries[position]
    }
}
