import Sheaf

/// Writes a safetensors file: the header (``SafetensorsHeader/encoded()``),
/// then each tensor's bytes back to back in key order.
struct SafetensorsSink: TensorSink {
    let format = InterchangeFormat.safetensors

    func check(_ plan: ExportPlan, path: String) throws(SheafError) -> [String] {
        for entry in plan.entries { _ = try Self.dtypeName(entry, path: path) }
        return []
    }

    /// The safetensors name of the entry's dtype, or the refusal naming it.
    static func dtypeName(_ entry: SourceEntry, path: String) throws(SheafError) -> String {
        guard let name = SafetensorsFormat.name(of: entry.dtype) else {
            throw SheafError(.unsupported, file: path, key: entry.key,
                             "safetensors has no \(entry.dtype) dtype; write .sheaf, .npy or .npz, which keep it")
        }
        return name
    }

    func write(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String] {
        var notes: [String] = []
        var header = SafetensorsHeader()
        for (name, value) in plan.metadata {
            if case .string(let text) = value { header.metadata[name] = text } else {
                header.metadata[name] = "\(value)"
                notes.append("safetensors metadata holds strings: \(name) (\(value.typeName)) written as \"\(value)\"")
            }
        }
        var offset = 0
        for entry in plan.entries {
            let name = try Self.dtypeName(entry, path: path)
            header.tensors.append((entry.key, .init(dtype: name, shape: entry.shape, data_offsets: [offset, offset + entry.byteCount])))
            offset += entry.byteCount
        }
        let headerBytes = try header.encoded()
        var length = ByteBuilder()
        length.u64(headerBytes.count)
        try atomic(path, plan.options) { (writer: FileWriter) throws(SheafError) in
            try writer.write(length.bytes + headerBytes)
            for index in plan.entries.indices { try writer.write(try plan.tensor(index)) }
        }
        return notes.sorted()
    }
}
