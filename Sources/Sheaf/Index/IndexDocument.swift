/// The index document of Spec/FORMAT.md §8, as written and read.
/// One entry of the index (Spec/FORMAT.md, "Index").
struct IndexEntry: Codable, Equatable {
    var key: String
    var dtype: String
    var shape: [Int]
    var nbytes: Int
    var offset: Int?
    var storage: String
    var checksum: String
    var tied_to: String?
    var metadata: Bool
    /// Checksum of the tensor's metadata (§10), when the writer recorded it.
    var metadata_checksum: String?
    /// The size of the blocks `block_checksums` covers (§9.1, version 1.2).
    var block_size: Int? = nil
    /// The checksum of each `block_size` bytes of the tensor's logical bytes, in order.
    var block_checksums: [String]? = nil
    /// A packed tensor's arena in `/_sheaf_packed` (§18, version 1.4).
    var arena: Int? = nil
    /// A packed tensor's first element in its arena.
    var arena_start: Int? = nil
}

struct IndexDocument: Codable, Equatable {
    var tensors: [IndexEntry]
    /// Checksum of the file's metadata (§10), when the writer recorded it.
    var metadata_checksum: String?
    /// The checkpoint's nesting (§8.1), when the tensors came from a nested checkpoint.
    var structure: CheckpointNode?

    init(tensors: [IndexEntry], metadata_checksum: String?, structure: CheckpointNode? = nil) {
        self.tensors = tensors
        self.metadata_checksum = metadata_checksum
        self.structure = structure
    }
}
