import Sheaf

/// What an export writes: the source's entries, kind and metadata, and a way
/// to read each tensor (tied entries resolved as the sink asked).
struct ExportPlan {
    let kind: SheafKind
    let entries: [SourceEntry]
    let metadata: Metadata
    /// The checkpoint's nesting, for the sinks that can write it back.
    var structure: CheckpointNode? = nil
    let options: ExportOptions
    /// Reads the tensor of `entries[index]`, widened where the sink asked for it.
    let tensor: (Int) throws(SheafError) -> Tensor
}

/// Writes tensors in one format, the counterpart of ``TensorSource``.
///
/// The ``Exporter`` asks a sink first to ``check(_:path:)`` the whole input,
/// so anything the format cannot hold is refused before a byte is written,
/// then to ``write(_:to:)`` it, one tensor at a time, to a file published atomically.
protocol TensorSink {
    /// The format written.
    var format: InterchangeFormat { get }
    /// dtypes the format has no type for and stores as exact float32 when
    /// ``ExportOptions/widen`` is set.
    var widened: Set<DType> { get }
    /// Whether the format can store a tied key as a second name for another key's data.
    var keepsTies: Bool { get }
    /// Whether the format can hold a checkpoint's nesting (``ExportPlan/structure``).
    var keepsStructure: Bool { get }
    /// Refuses what the format cannot hold; returns notes for what it changes in
    /// form only (never in values).
    func check(_ plan: ExportPlan, path: String) throws(SheafError) -> [String]
    /// Writes every entry of `plan` to `path`, atomically; returns notes.
    func write(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String]
}

extension TensorSink {
    var widened: Set<DType> { [] }
    var keepsTies: Bool { false }
    var keepsStructure: Bool { false }

    /// Writes through a ``FileWriter`` on a temporary file, published atomically.
    func atomic(_ path: String, _ options: ExportOptions, _ body: (FileWriter) throws(SheafError) -> Void) throws(SheafError) {
        do {
            try AtomicFile.write(to: path, replace: options.replace) { temporary in
                let writer = try FileWriter(path: temporary)
                try body(writer)
            }
        } catch let error as SheafError {
            throw error.with(file: path)
        } catch {
            throw SheafError(.io, file: path, "\(error)")
        }
    }

    /// Refuses an input of more than one tensor for a one-tensor format.
    func requireOneTensor(_ plan: ExportPlan, path: String) throws(SheafError) {
        guard plan.entries.count == 1 else {
            throw SheafError(.unsupported, file: path,
                             "\(format) holds exactly one tensor; the input has \(plan.entries.count). Write .npz, .safetensors or .sheaf instead")
        }
    }

    /// A note for metadata the format has no place for.
    func droppedMetadataNote(_ plan: ExportPlan) -> [String] {
        guard !plan.metadata.isEmpty else { return [] }
        return ["\(format) has no place for metadata: \(plan.metadata.count) metadata values (\(plan.metadata.keys.sorted().joined(separator: ", "))) are not written"]
    }
}
