import Sheaf

/// Writes a `.npz` file: a zip of stored `.npy` members, one per key (what
/// `numpy.savez` writes).
struct NpzSink: TensorSink {
    let format = InterchangeFormat.npz
    var widened: Set<DType> { NumPyFormat.widened }

    func check(_ plan: ExportPlan, path: String) throws(SheafError) -> [String] {
        for entry in plan.entries { try Self.checkMemberName(entry.key, file: path) }
        return droppedMetadataNote(plan)
    }

    func write(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String] {
        try atomic(path, plan.options) { (writer: FileWriter) throws(SheafError) in
            let zip = ZipWriter(file: writer)
            for index in plan.entries.indices {
                let tensor = try plan.tensor(index)
                let header = try NumPyFormat.header(dtype: tensor.dtype, shape: tensor.shape)
                try header.withUnsafeBytes { h in
                    tensor.withUnsafeBytes { d in
                        Result { () throws(SheafError) in try zip.add(name: plan.entries[index].key + ".npy", parts: [h, d]) }
                    }
                }.get()
            }
            try zip.finish()
        }
        return []
    }

    /// Keys become zip member names: refuse names an unzip tool would place
    /// outside the target folder.
    static func checkMemberName(_ key: String, file: String) throws(SheafError) {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        if key.hasPrefix("/") || parts.contains("..") || key.utf8.contains(0) || key.contains("\\") {
            throw SheafError(.invalidKey, file: file, key: key,
                             "key would be an unsafe zip member name (absolute, '..', backslash or NUL); rename it or write .sheaf or .safetensors")
        }
    }
}
