import Foundation
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
/// tensor at a time, atomically.
public enum Exporter {
    /// Converts `source` into `path` as `format`.
    /// - Parameter progress: called after each tensor with (done, total) bytes.
    /// - Throws: ``SheafError`` (`unsupported`) when the target cannot hold
    ///   something without changing it; the message names the flag that converts
    ///   losslessly, where there is one. Nothing is left under `path` on error.
    public static func export(_ source: any TensorSource, to path: String, as format: InterchangeFormat,
                              options: ExportOptions = ExportOptions(),
                              progress: ((Int, Int) -> Void)? = nil) throws(SheafError) -> ExportReport {
        var report = ExportReport(format: format)
        report.notes = source.notes
        report.tensors = source.entries.count
        report.tied = source.entries.filter { $0.tiedTo != nil }.count
        let entries = source.entries
        let total = entries.reduce(0) { $0 + $1.byteCount }
        var done = 0
        let widened: Set<DType> = [.bfloat16, .float8_e4m3fn, .float8_e5m2]
        func refuse(_ message: String, key: String? = nil) -> SheafError {
            SheafError(.unsupported, file: path, key: key, message)
        }
        // Check what the target cannot hold before writing anything.
        if format == .npz || format == .safetensors, !options.untie, let entry = entries.first(where: { $0.tiedTo != nil }) {
            throw refuse("\(format) cannot tie tensors; '\(entry.key)' is tied to '\(entry.tiedTo ?? "")'. Pass --untie to write each key's own copy (same values, more bytes), or write .sheaf, which keeps ties", key: entry.key)
        }
        switch format {
        case .npy, .raw:
            guard entries.count == 1 else {
                throw refuse("\(format) holds exactly one tensor; the input has \(entries.count). Write .npz, .safetensors or .sheaf instead")
            }
        default: break
        }
        if format == .npy || format == .npz {
            for entry in entries where widened.contains(entry.dtype) && !options.widen {
                throw refuse("NumPy has no \(entry.dtype) dtype. Pass --widen to store exact float32 values (lossless), or write .sheaf or .safetensors, which keep \(entry.dtype)", key: entry.key)
            }
            for entry in entries where format == .npz {
                try checkMemberName(entry.key, file: path)
            }
        }
        if format == .safetensors {
            for entry in entries where SafetensorsFormat.name(of: entry.dtype) == nil {
                throw refuse("safetensors has no \(entry.dtype) dtype; write .sheaf, .npy or .npz, which keep it", key: entry.key)
            }
        }
        if !source.metadata.isEmpty && [.npy, .npz, .raw].contains(format) {
            report.notes.append("\(format) has no place for metadata: \(source.metadata.count) metadata values (\(source.metadata.keys.sorted().joined(separator: ", "))) are not written")
        }

        func load(_ index: Int) throws(SheafError) -> Tensor {
            var tensor = try source.tensor(at: index)
            if (format == .npy || format == .npz) && widened.contains(tensor.dtype) {
                tensor = try tensor.converted(to: .float32)
            }
            done += entries[index].byteCount
            report.bytes += tensor.byteCount
            progress?(done, total)
            return tensor
        }

        switch format {
        case .sheaf:
            try SheafWriter.write(kind: source.kind, keys: entries.map(\.key), tiedTo: entries.map(\.tiedTo),
                                  metadata: source.metadata, to: path, options: options.save, replace: options.replace,
                                  tensor: load)
        case .hdf5:
            throw refuse("plain HDF5 output is Sheaf: use the .sheaf or .h5 extension (or --to sheaf)")
        case .torch:
            throw refuse("writing PyTorch checkpoints is not supported (it would need pickle); write .safetensors or .sheaf, which PyTorch users can load")
        case .npy:
            try atomic(path, options) { (writer: FileWriter) throws(SheafError) in
                let tensor = try load(0)
                try writer.write(try NumPyFormat.header(dtype: tensor.dtype, shape: tensor.shape))
                try writer.write(tensor)
            }
        case .raw:
            let sidecar = path + ".json"
            var description = ""
            try atomic(path, options) { (writer: FileWriter) throws(SheafError) in
                let tensor = try load(0)
                try writer.write(tensor)
                description = "{\"dtype\": \"\(tensor.dtype)\", \"shape\": \(tensor.shape), \"byte_order\": \"little\"}\n"
                report.notes.append("raw \(tensor.dtype) \(tensor.shape), little-endian; layout written to \(sidecar)")
            }
            try atomic(sidecar, options) { (writer: FileWriter) throws(SheafError) in try writer.write(Array(description.utf8)) }
        case .npz:
            try atomic(path, options) { (writer: FileWriter) throws(SheafError) in
                let zip = ZipWriter(file: writer)
                for index in entries.indices {
                    let tensor: Tensor
                    if let owner = entries[index].tiedTo, let ownerIndex = entries.firstIndex(where: { $0.key == owner }) {
                        tensor = try load(ownerIndex)
                    } else {
                        tensor = try load(index)
                    }
                    let header = try NumPyFormat.header(dtype: tensor.dtype, shape: tensor.shape)
                    try header.withUnsafeBytes { h in
                        tensor.withUnsafeBytes { d in
                            Result { () throws(SheafError) in try zip.add(name: entries[index].key + ".npy", parts: [h, d]) }
                        }
                    }.get()
                }
                try zip.finish()
            }
        case .safetensors:
            var metadata: [String: String] = [:]
            for (name, value) in source.metadata {
                if case .string(let text) = value { metadata[name] = text } else {
                    metadata[name] = "\(value)"
                    report.notes.append("safetensors metadata holds strings: \(name) (\(value.typeName)) written as \"\(value)\"")
                }
            }
            var header = "{"
            var items: [String] = []
            if !metadata.isEmpty {
                items.append("\"__metadata__\":{" + metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",") + "}")
            }
            var offset = 0
            for entry in entries {
                let name = SafetensorsFormat.name(of: entry.dtype)!
                items.append("\(jsonString(entry.key)):{\"dtype\":\"\(name)\",\"shape\":\(entry.shape),\"data_offsets\":[\(offset),\(offset + entry.byteCount)]}")
                offset += entry.byteCount
            }
            header += items.joined(separator: ",") + "}"
            var headerBytes = Array(header.utf8)
            while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }
            var length = ByteBuilder()
            length.u64(headerBytes.count)
            try atomic(path, options) { (writer: FileWriter) throws(SheafError) in
                try writer.write(length.bytes + headerBytes)
                for index in entries.indices {
                    if let owner = entries[index].tiedTo, let ownerIndex = entries.firstIndex(where: { $0.key == owner }) {
                        try writer.write(try load(ownerIndex))
                    } else {
                        let tensor = try load(index)
                        guard tensor.dtype == entries[index].dtype, tensor.shape == entries[index].shape else {
                            throw SheafError(.invalidFile, file: source.path, key: entries[index].key, "tensor differs from its index entry")
                        }
                        try writer.write(tensor)
                    }
                }
            }
        }
        return report
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

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    /// Writes through a FileWriter on a temporary file, published atomically.
    static func atomic(_ path: String, _ options: ExportOptions, _ body: (FileWriter) throws(SheafError) -> Void) throws(SheafError) {
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
}
