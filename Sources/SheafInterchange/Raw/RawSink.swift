import Foundation
import Sheaf

/// Writes one tensor's little-endian bytes, with its layout in a JSON sidecar
/// (`PATH.json`: dtype, shape, byte order) that `RawSource` reads back.
struct RawSink: TensorSink {
    let format = InterchangeFormat.raw

    /// The sidecar's content.
    struct Layout: Codable, Equatable {
        var dtype: String
        var shape: [Int]
        var byte_order: String
    }

    func check(_ plan: ExportPlan, path: String) throws(SheafError) -> [String] {
        try requireOneTensor(plan, path: path)
        return droppedMetadataNote(plan)
    }

    func write(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String] {
        let sidecar = path + ".json"
        var layout = Layout(dtype: "", shape: [], byte_order: "little")
        try atomic(path, plan.options) { (writer: FileWriter) throws(SheafError) in
            let tensor = try plan.tensor(0)
            try writer.write(tensor)
            layout.dtype = tensor.dtype.rawValue
            layout.shape = tensor.shape
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json: [UInt8]
        do { json = Array(try encoder.encode(layout)) + [0x0A] } catch {
            throw SheafError(.invalidArgument, file: sidecar, "cannot encode the layout: \(error)")
        }
        try atomic(sidecar, plan.options) { (writer: FileWriter) throws(SheafError) in try writer.write(json) }
        return ["raw \(layout.dtype) \(layout.shape), little-endian; layout written to \(sidecar)"]
    }
}
