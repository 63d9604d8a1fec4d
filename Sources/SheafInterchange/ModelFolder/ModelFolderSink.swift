import Foundation
import Sheaf

/// Writes a Hugging Face model folder as `save_pretrained` does: safetensors
/// shards of at most ``maxShardBytes`` each (`model-0000k-of-0000N.safetensors`,
/// keys in order, a tensor larger than the limit alone in its shard; one shard
/// is `model.safetensors`), `model.safetensors.index.json` mapping each key to
/// its shard, and `config.json`/`generation_config.json` from the metadata of
/// Spec/FORMAT.md §10.1. The folder is published atomically.
struct ModelFolderSink: TensorSink {
    let format = InterchangeFormat.safetensors
    let maxShardBytes: Int

    /// The index transformers writes and reads.
    struct Index: Encodable {
        struct Metadata: Encodable { var total_size: Int }
        var metadata: Metadata
        var weight_map: [String: String]
    }

    func check(_ plan: ExportPlan, path: String) throws(SheafError) -> [String] {
        guard maxShardBytes > 0 else { throw SheafError(.invalidArgument, file: path, "the shard size must be positive") }
        return try SafetensorsSink().check(plan, path: path)
    }

    /// Consecutive ranges of entries, each at most `maxShardBytes` unless one
    /// tensor alone is larger (huggingface_hub's rule).
    func shards(_ entries: [SourceEntry]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0, size = 0
        for (index, entry) in entries.enumerated() {
            if index > start, size + entry.byteCount > maxShardBytes {
                ranges.append(start..<index)
                start = index
                size = 0
            }
            size += entry.byteCount
        }
        if start < entries.count || ranges.isEmpty { ranges.append(start..<entries.count) }
        return ranges
    }

    func write(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String] {
        let ranges = shards(plan.entries)
        var notes: [String] = []
        var shardMetadata = plan.metadata.filter { $0.key != ModelFolder.configMetadata && $0.key != ModelFolder.generationConfigMetadata }
        if shardMetadata["format"] == nil {
            shardMetadata["format"] = .string("pt")
            notes.append("each shard's metadata says format = pt, which transformers requires")
        }
        var shardOptions = plan.options
        shardOptions.replace = true
        do {
            try AtomicFile.writeFolder(to: path, replace: plan.options.replace) { folder in
                var weightMap: [String: String] = [:]
                for (number, range) in ranges.enumerated() {
                    let name = ranges.count == 1 ? "model.safetensors"
                        : String(format: "model-%05d-of-%05d.safetensors", number + 1, ranges.count)
                    let shard = ExportPlan(kind: .dict, entries: Array(plan.entries[range]), metadata: shardMetadata,
                                           options: shardOptions) { (index: Int) throws(SheafError) -> Tensor in
                        try plan.tensor(range.lowerBound + index)
                    }
                    notes += try SafetensorsSink().write(shard, to: folder + "/" + name)
                    for entry in plan.entries[range] { weightMap[entry.key] = name }
                }
                if ranges.count > 1 {
                    let index = Index(metadata: .init(total_size: plan.entries.reduce(0) { $0 + $1.byteCount }), weight_map: weightMap)
                    try writeFile(folder + "/model.safetensors.index.json", try Self.json(index), options: shardOptions)
                }
                for (name, metadataName) in ModelFolder.configFiles {
                    guard case .string(let text)? = plan.metadata[metadataName] else { continue }
                    try writeFile(folder + "/" + name, Array(text.utf8), options: shardOptions)
                }
            }
        } catch let error as SheafError {
            throw error.with(file: path)
        } catch {
            throw SheafError(.io, file: path, "\(error)")
        }
        if plan.metadata[ModelFolder.configMetadata] == nil {
            notes.append("no \(ModelFolder.configMetadata) metadata: the folder has no config.json (from_pretrained needs one)")
        }
        return Array(Set(notes)).sorted() + ["wrote \(ranges.count) shard\(ranges.count == 1 ? "" : "s") of at most \(maxShardBytes) bytes"]
    }

    private func writeFile(_ path: String, _ bytes: [UInt8], options: ExportOptions) throws(SheafError) {
        try atomic(path, options) { (writer: FileWriter) throws(SheafError) in try writer.write(bytes) }
    }

    static func json(_ index: Index) throws(SheafError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do { return Array(try encoder.encode(index)) + [0x0A] } catch {
            throw SheafError(.invalidArgument, "cannot encode the index: \(error)")
        }
    }
}
