import Sheaf

/// The shards of a sharded checkpoint (safetensors or PyTorch) read as one
/// state dict, in the index's order; the folder's configuration files become
/// metadata. Each tensor is read from its shard when asked for, so converting
/// needs memory for about one tensor.
final class ShardedSource: TensorSource {
    let path: String
    let format: InterchangeFormat
    let kind = SheafKind.dict
    let metadata: Metadata
    let entries: [SourceEntry]
    let notes: [String]
    /// For each entry: its shard and its index there.
    private let locations: [(shard: Int, index: Int)]
    private let shards: [any TensorSource]

    /// Opens the checkpoint whose index is at `indexPath`; errors name `path`
    /// (the folder or the index, as the caller gave it).
    init(index indexPath: String, path: String) throws(SheafError) {
        self.path = path
        let reader = try FileReader(path: indexPath)
        guard reader.size <= ShardIndex.maxBytes else {
            throw SheafError(.limitExceeded, file: path, "the index is \(reader.size) bytes, over the \(ShardIndex.maxBytes)-byte limit")
        }
        let index = try ShardIndex.parse(try reader.bytes(at: 0, count: reader.size), file: path)
        let folder = AtomicFile.split(indexPath).0
        var shards: [any TensorSource] = []
        var shardPositions: [String: Int] = [:]
        var format: InterchangeFormat?
        for name in index.shards {
            let shardPath = folder + "/" + name
            guard FileDescriptor.exists(shardPath) else {
                throw SheafError(.invalidFile, file: path, "the index names shard \(name), which is not in the folder: the checkpoint is incomplete")
            }
            let source: any TensorSource
            do { source = try Interchange.open(path: shardPath, format: format) } catch {
                throw error.with(file: shardPath)
            }
            guard source.format == .safetensors || source.format == .torch, format == nil || source.format == format else {
                throw SheafError(.unsupported, file: path,
                                 "shard \(name) is \(source.format); the shards of one checkpoint are all safetensors or all PyTorch")
            }
            format = source.format
            shardPositions[name] = shards.count
            shards.append(source)
        }
        // Every key of the index in its shard, every tensor of a shard in the index.
        var positionsInShard: [[String: Int]] = shards.map { shard in
            var positions: [String: Int] = [:]
            for (position, entry) in shard.entries.enumerated() { positions[entry.key] = position }
            return positions
        }
        var entries: [SourceEntry] = []
        var locations: [(shard: Int, index: Int)] = []
        var placed: Set<String> = []
        for (key, name) in index.weightMap {
            guard let shard = shardPositions[name], let position = positionsInShard[shard].removeValue(forKey: key) else {
                throw SheafError(.keyNotFound, file: path, key: key, "listed in the index under \(name), but not in its shard")
            }
            var entry = shards[shard].entries[position]
            // A tie survives only to a key placed before it.
            if let owner = entry.tiedTo, !placed.contains(owner) { entry.tiedTo = nil }
            entry.storage += ", " + name
            entries.append(entry)
            locations.append((shard, position))
            placed.insert(key)
        }
        for (shard, left) in positionsInShard.enumerated() {
            if let key = left.keys.min() {
                throw SheafError(.invalidFile, file: path, key: key,
                                 "shard \(index.shards[shard]) holds this tensor, but it is not listed in the index under that shard")
            }
        }
        var metadata: Metadata = [:]
        var notes: [String] = []
        for (shard, source) in shards.enumerated() {
            for (name, value) in source.metadata {
                if let kept = metadata[name], kept != value {
                    notes.append("shard \(index.shards[shard]) has metadata \(name) = \(value); the first shard's \(kept) is kept")
                } else {
                    metadata[name] = value
                }
            }
        }
        for (name, value) in try ModelFolder.configuration(in: folder, file: path) { metadata[name] = value }
        self.format = format ?? .safetensors
        self.metadata = metadata
        self.entries = entries
        self.locations = locations
        self.shards = shards
        self.notes = notes + ["merged \(shards.count) shards in the index's order"]
    }

    func tensor(at index: Int) throws(SheafError) -> Tensor {
        let (shard, position) = locations[index]
        return try shards[shard].tensor(at: position)
    }
}

/// A model folder whose weights are one file: that file's tensors, with the
/// folder's configuration as metadata.
final class SingleFileFolderSource: TensorSource {
    let path: String
    let metadata: Metadata
    private let weights: any TensorSource

    init(weights: any TensorSource, folder: String) throws(SheafError) {
        path = folder
        self.weights = weights
        var metadata = weights.metadata
        for (name, value) in try ModelFolder.configuration(in: folder, file: folder) { metadata[name] = value }
        self.metadata = metadata
    }

    var format: InterchangeFormat { weights.format }
    var kind: SheafKind { weights.kind }
    var entries: [SourceEntry] { weights.entries }
    var notes: [String] { weights.notes }
    func tensor(at index: Int) throws(SheafError) -> Tensor { try weights.tensor(at: index) }
}
