import Sheaf

/// A sharded Sheaf set (``SheafSet``) read as one state dict.
final class SheafSetSource: TensorSource {
    let path: String
    let format = InterchangeFormat.sheaf
    let entries: [SourceEntry]
    private let sheafSet: SheafSet

    init(path: String) throws(SheafError) {
        self.path = path
        sheafSet = try SheafSet(path: path)
        entries = sheafSet.entries.map {
            SourceEntry(key: $0.key, dtype: $0.dtype, shape: $0.shape, tiedTo: $0.tiedTo, storage: $0.storage.rawValue)
        }
    }

    var kind: SheafKind { sheafSet.kind }
    var metadata: Metadata { sheafSet.metadata }
    var structure: CheckpointNode? { sheafSet.structure }
    var formatVersion: String? { "set \(SheafSet.setVersion), \(sheafSet.shardNames.count) shards" }
    var notes: [String] { ["a sharded set of \(sheafSet.shardNames.count) files: \(sheafSet.shardNames.joined(separator: ", "))"] }
    func tensor(at index: Int) throws(SheafError) -> Tensor { try sheafSet.tensor(entries[index].key) }
    func verify() -> [VerificationProblem]? { SheafSet.verify(path: path) }
}

/// Writes a sharded Sheaf set (``SheafSet/write(kind:keys:tiedTo:byteCounts:metadata:structure:to:shardSize:options:replace:tensor:)``).
/// The path names the set's index: `model.sheaf` becomes `model.sheaf.index.json`
/// with shards `model-0000k-of-0000N.sheaf` beside it.
struct SheafSetSink: TensorSink {
    let format = InterchangeFormat.sheaf
    let maxShardBytes: Int
    var keepsTies: Bool { true }
    var keepsStructure: Bool { true }

    /// The index path for an output path.
    static func indexPath(for path: String) -> String {
        path.hasSuffix(".sheaf.index.json") ? path : path + ".index.json"
    }

    func check(_ plan: ExportPlan, path: String) throws(SheafError) -> [String] { [] }

    func write(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String] {
        let index = Self.indexPath(for: path)
        let names = try SheafSet.write(kind: plan.kind, keys: plan.entries.map(\.key), tiedTo: plan.entries.map(\.tiedTo),
                                       byteCounts: plan.entries.map(\.byteCount), metadata: plan.metadata,
                                       structure: plan.structure, to: index, shardSize: maxShardBytes,
                                       options: plan.options.save, replace: plan.options.replace, tensor: plan.tensor)
        return ["wrote a set of \(names.count) shard\(names.count == 1 ? "" : "s") of at most \(maxShardBytes) bytes; its index is \(index)"]
    }
}
