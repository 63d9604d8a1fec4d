import Sheaf

/// Options for writing a file in another format.
public struct ExportOptions: Sendable {
    /// Sheaf output storage and checksum.
    public var save: SaveOptions = .default
    /// Store bfloat16/float8 tensors as exact float32 where the target has no such dtype.
    public var widen = false
    /// Write tied keys as separate copies where the target cannot tie tensors.
    public var untie = false
    /// Replace an existing output (still atomically).
    public var replace = false
    /// Write shards of at most this many bytes, not one file: Sheaf as a
    /// sharded set (``SheafSet``), safetensors as a Hugging Face model folder
    /// (with its index and config.json).
    public var shardSize: Int?
    public init() {}
}

/// What a conversion did.
public struct ExportReport: Sendable {
    public var format: InterchangeFormat
    /// Keys written.
    public var tensors = 0
    /// Keys written as ties to another key (their data is stored once).
    public var tied = 0
    public var bytes = 0
    /// Things the reader or writer changed in shape (never in values), for the user to read.
    public var notes: [String] = []
}

/// Writes the tensors of a ``TensorSource`` to a file of another format, one
/// tensor at a time, atomically, through the format's ``TensorSink``.
public enum Exporter {
    /// The sink for each writable format.
    static func sink(for format: InterchangeFormat, options: ExportOptions) -> (any TensorSink)? {
        if format == .safetensors, let size = options.shardSize { return ModelFolderSink(maxShardBytes: size) }
        if format == .sheaf, let size = options.shardSize { return SheafSetSink(maxShardBytes: size) }
        return switch format {
        case .sheaf: SheafSink()
        case .npy: NpySink()
        case .npz: NpzSink()
        case .safetensors: SafetensorsSink()
        case .raw: RawSink()
        case .torch: TorchSink()
        case .hdf5: nil
        case .keras: KerasWeightsSink()
        }
    }

    /// Converts `source` into `path` as `format`.
    /// - Parameter progress: called after each tensor with (done, total) bytes.
    /// - Throws: ``SheafError`` (`unsupported`) when the target cannot hold
    ///   something without changing it; ``SheafError/remedy`` names the option
    ///   that converts losslessly, where there is one. Nothing is left under
    ///   `path` on error.
    public static func export(_ source: any TensorSource, to path: String, as format: InterchangeFormat,
                              options: ExportOptions = ExportOptions(),
                              progress: ((Int, Int) -> Void)? = nil) throws(SheafError) -> ExportReport {
        if options.shardSize != nil && format != .safetensors && format != .sheaf {
            throw SheafError(.unsupported, file: path, "a shard size applies to Sheaf (a sharded set) and safetensors (a model folder), not to \(format)")
        }
        guard let sink = sink(for: format, options: options) else {
            throw SheafError(.unsupported, file: path, "plain HDF5 output is Sheaf: write InterchangeFormat.sheaf (the .sheaf or .h5 extension)")
        }
        let entries = source.entries
        var report = ExportReport(format: format)
        report.notes = source.notes
        report.tensors = entries.count
        report.tied = entries.filter { $0.tiedTo != nil }.count
        let total = entries.reduce(0) { $0 + $1.byteCount }
        var done = 0
        var positions: [String: Int] = [:]
        for (index, entry) in entries.enumerated() where positions[entry.key] == nil { positions[entry.key] = index }

        // Checks that hold for every sink, before anything is written.
        if !sink.keepsTies, !options.untie, let entry = entries.first(where: { $0.tiedTo != nil }) {
            throw SheafError(.unsupported, file: path, key: entry.key,
                             "\(format) cannot tie tensors; '\(entry.key)' is tied to '\(entry.tiedTo ?? "")'. Set untie to write each key's own copy (same values, more bytes), or write .sheaf, which keeps ties",
                             remedy: .untie)
        }
        if !options.widen, let entry = entries.first(where: { sink.widened.contains($0.dtype) }) {
            throw SheafError(.unsupported, file: path, key: entry.key,
                             "NumPy has no \(entry.dtype) dtype. Set widen to store exact float32 values (lossless), or write .sheaf or .safetensors, which keep \(entry.dtype)",
                             remedy: .widen)
        }

        func load(_ index: Int) throws(SheafError) -> Tensor {
            // A sink that cannot tie gets the owner's tensor for a tied key.
            var position = index
            if !sink.keepsTies, let owner = entries[index].tiedTo, let ownerIndex = positions[owner] { position = ownerIndex }
            var tensor = try source.tensor(at: position)
            guard tensor.dtype == entries[index].dtype, tensor.shape == entries[index].shape else {
                throw SheafError(.invalidFile, file: source.path, key: entries[index].key,
                                 "tensor is \(tensor.dtype) \(tensor.shape), its entry says \(entries[index].dtype) \(entries[index].shape)")
            }
            if sink.widened.contains(tensor.dtype) { tensor = try tensor.converted(to: .float32) }
            done += entries[index].byteCount
            report.bytes += tensor.byteCount
            progress?(done, total)
            return tensor
        }
        let plan = ExportPlan(kind: source.kind, entries: entries, metadata: source.metadata,
                              structure: sink.keepsStructure ? source.structure : nil, options: options, tensor: load)
        if source.structure != nil && !sink.keepsStructure {
            report.notes.append("\(format) has no place for the checkpoint's nesting: the keys are written flat (.sheaf and .pt keep it)")
        }
        report.notes += try sink.check(plan, path: path)
        report.notes += try sink.write(plan, to: path)
        return report
    }
}
