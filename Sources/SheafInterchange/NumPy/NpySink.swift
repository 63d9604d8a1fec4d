import Sheaf

/// Writes one tensor as a `.npy` file (format version 1.0, or 2.0 for a long header).
struct NpySink: TensorSink {
    let format = InterchangeFormat.npy
    var widened: Set<DType> { NumPyFormat.widened }

    func check(_ plan: ExportPlan, path: String) throws(SheafError) -> [String] {
        try requireOneTensor(plan, path: path)
        return droppedMetadataNote(plan)
    }

    func write(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String] {
        try atomic(path, plan.options) { (writer: FileWriter) throws(SheafError) in
            let tensor = try plan.tensor(0)
            try writer.write(try NumPyFormat.header(dtype: tensor.dtype, shape: tensor.shape))
            try writer.write(tensor)
        }
        return []
    }
}
