import Sheaf

/// A distributed checkpoint (``DistributedCheckpoint``, Spec/FORMAT.md §17)
/// read as one state dict: each global tensor is assembled from its pieces
/// when asked for, so converting it to one file holds one tensor at a time.
final class DistributedSource: TensorSource {
    let path: String
    let format = InterchangeFormat.sheaf
    let entries: [SourceEntry]
    private let checkpoint: DistributedCheckpoint

    init(path: String) throws(SheafError) {
        self.path = path
        checkpoint = try DistributedCheckpoint(path: path)
        entries = checkpoint.entries.map {
            SourceEntry(key: $0.key, dtype: $0.dtype, shape: $0.shape, tiedTo: nil,
                        storage: $0.pieces.count == 1 ? "1 piece" : "\($0.pieces.count) pieces")
        }
    }

    var kind: SheafKind { .dict }
    var metadata: Metadata { checkpoint.metadata }
    var structure: CheckpointNode? { nil }
    var formatVersion: String? { "\(checkpoint.version), distributed over \(checkpoint.worldSize) ranks" }
    var notes: [String] {
        ["a distributed checkpoint saved by \(checkpoint.worldSize) ranks; shards: \(checkpoint.shardNames.joined(separator: ", "))"]
    }
    func tensor(at index: Int) throws(SheafError) -> Tensor { try checkpoint.tensor(entries[index].key) }
    func verify() -> [VerificationProblem]? { DistributedCheckpoint.verify(path: path) }
}
