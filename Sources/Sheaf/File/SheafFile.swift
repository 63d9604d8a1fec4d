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
    /// The file's checksum algorithm over its JSON index's bytes: what a
    /// sharded set records to tell this shard from any other (§16). A file
    /// opened from its binary index (§8.2) gives the checksum that index
    /// records, which ``verify()`` checks against the JSON's bytes.
    public let indexChecksum: UInt64
    /// The tensors, in key order; each ``Entry`` is made when read.
    public var entries: Entries { Entries(table: table) }
    /// The checked index.
    let table: IndexTable
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
    /// - Complexity: O(key length + rank) expected.
    public func entry(_ key: String) throws(SheafError) -> Entry {
        table.entry(at: try existingPosition(of: key))
    }

    /// The position of `key`, or the `keyNotFound` error ``entry(_:)`` throws.
    package func existingPosition(of key: String) throws(SheafError) -> Int {
        guard let position = table.position(of: key) else {
            throw SheafError(.keyNotFound, file: path, key: key, "no such key; the file has \(table.count) keys")
        }
        return position
    }

    /// The position of the entry whose stored tensor the entry at `position`
    /// names: its own, or its owner's when it is tied (§7).
    package func storedPosition(of position: Int) -> Int {
        let owner = Int(table.records[position].owner)
        return owner >= 0 ? owner : position
    }

    /// The position of `key` in ``entries``, or nil.
    /// - Complexity: O(key length) expected.
    public func position(of key: String) -> Int? { table.position(of: key) }

    /// The index entries of a ``SheafFile``, in key order. Opening a file
    /// checks every entry and keeps them in compact form; each ``Entry`` value
    /// is made when it is read.
    public struct Entries: RandomAccessCollection, Sendable {
        let table: IndexTable

        public var startIndex: Int { 0 }
        public var endIndex: Int { table.count }

        /// The entry at `position`.
        /// - Complexity: O(key length + rank + block count).
        public subscript(position: Int) -> Entry { table.entry(at: position) }
    }
}
