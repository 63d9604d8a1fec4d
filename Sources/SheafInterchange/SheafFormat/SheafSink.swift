import Sheaf

/// Writes a Sheaf file with ``SheafWriter``: ties, metadata and every dtype kept.
struct SheafSink: TensorSink {
    let format = InterchangeFormat.sheaf
    var keepsTies: Bool { true }
    var keepsStructure: Bool { true }

    func check(_ plan: ExportPlan, path: String) throws(SheafError) -> [String] { [] }

    func write(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String] {
        try SheafWriter.write(kind: plan.kind, keys: plan.entries.map(\.key), tiedTo: plan.entries.map(\.tiedTo),
                              metadata: plan.metadata, structure: plan.structure, to: path, options: plan.options.save,
                              replace: plan.options.replace, tensor: plan.tensor)
        return []
    }
}
