import Glibc
import Sheaf
import SheafHDF5

/// Writes a Keras 3 `.weights.h5`: a plain HDF5 file (not a Sheaf file) whose
/// groups and datasets come from the dotted keys (`layers.dense.vars.0` →
/// `/layers/dense/vars/0`) and whose group attributes come from `GROUP@NAME`
/// metadata, the exact inverse of reading one (Keras names each `vars` group
/// with a `name` attribute, and empty groups exist only through theirs).
/// Other file-level metadata become root attributes, except the archive's and
/// a model folder's own (`keras_*`, `hf_*`), which describe files around the
/// weights. `keras.Model.load_weights` reads the result.
///
/// An output named `.keras` is a whole archive instead — `metadata.json`,
/// `config.json` and `model.weights.h5`, stored, as Keras writes it — made from
/// the `keras_metadata` and `keras_config` a converted archive carries, so
/// `keras.saving.load_model` reads it.
struct KerasWeightsSink: TensorSink {
    let format = InterchangeFormat.keras
    /// Keras keeps no bfloat16 or float8 in weight files: exact float32 with `widen`.
    var widened: Set<DType> { [.bfloat16, .float8_e4m3fn, .float8_e5m2] }

    static func isArchiveMetadata(_ key: String) -> Bool { key.hasPrefix("keras_") || key.hasPrefix("hf_") }

    /// The group path of a key, or of a metadata key's `GROUP@NAME`.
    static func components(_ key: String) -> [String] { key.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }

    func check(_ plan: ExportPlan, path: String) throws(SheafError) -> [String] {
        var datasets = Set<String>()
        for entry in plan.entries {
            let parts = Self.components(entry.key)
            guard !parts.contains(where: \.isEmpty) else {
                throw SheafError(.unsupported, file: path, key: entry.key, "a key with an empty path component cannot name an HDF5 dataset")
            }
            datasets.insert(entry.key)
        }
        // A dataset cannot also be a group on another key's path.
        for entry in plan.entries {
            let parts = Self.components(entry.key)
            for length in 1..<max(parts.count, 1) where datasets.contains(parts[0..<length].joined(separator: ".")) {
                throw SheafError(.unsupported, file: path, key: entry.key,
                                 "'\(parts[0..<length].joined(separator: "."))' is both a tensor and a group on this key's path")
            }
        }
        if Self.isArchive(path) {
            for key in [KerasArchiveSource.configMetadata, KerasArchiveSource.archiveMetadata] {
                guard case .string? = plan.metadata[key] else {
                    throw SheafError(.unsupported, file: path,
                                     "a .keras archive needs the model's \(key) (kept when a .keras file is converted); this input has none. Write NAME.weights.h5 and load it into the model with load_weights")
                }
            }
            return []
        }
        let skipped = plan.metadata.keys.filter(Self.isArchiveMetadata).sorted()
        return skipped.isEmpty ? [] : ["\(skipped.joined(separator: ", ")) describe the files around the weights and are not written into the .weights.h5"]
    }

    /// An open group, kept while its children are written.
    final class Node {
        let group: HDF5Group
        init(_ group: consuming HDF5Group) { self.group = group }
    }

    static func isArchive(_ path: String) -> Bool { path.lowercased().hasSuffix(".keras") }

    func write(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String] {
        if Self.isArchive(path) { return try writeArchive(plan, to: path) }
        do {
            try AtomicFile.write(to: path, replace: plan.options.replace) { temporary in
                let file = try hdf5(path) { () throws(HDF5Error) in try HDF5File.create(path: temporary, alignment: 1) }
                try Self.fill(file, plan, path: path)
            }
        } catch let error as SheafError {
            throw error.with(file: path)
        } catch {
            throw SheafError(.io, file: path, "\(error)")
        }
        return []
    }

    /// The weights file built in a private temporary folder, then stored in the archive with the two JSON files.
    private func writeArchive(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String] {
        let folder = try PrivateTemporaryFolder(about: path)
        defer { withExtendedLifetime(folder) {} }
        let weightsPath = folder.file(KerasArchiveSource.weightsMember)
        do {
            let file = try hdf5(path) { () throws(HDF5Error) in try HDF5File.create(path: weightsPath, alignment: 1) }
            try Self.fill(file, plan, path: path)
        }
        let reader = try FileReader(path: weightsPath)
        let weights = try reader.bytes(at: 0, count: reader.size)
        var texts: [(String, String)] = []
        for (name, key) in [("metadata.json", KerasArchiveSource.archiveMetadata), ("config.json", KerasArchiveSource.configMetadata)] {
            if case .string(let text)? = plan.metadata[key] { texts.append((name, text)) }
        }
        try atomic(path, plan.options) { (writer: FileWriter) throws(SheafError) in
            let zip = ZipWriter(file: writer)
            for (name, text) in texts {
                try Array(text.utf8).withUnsafeBytes { bytes in Result { () throws(SheafError) in try zip.add(name: name, parts: [bytes]) } }.get()
            }
            try weights.withUnsafeBytes { bytes in
                Result { () throws(SheafError) in try zip.add(name: KerasArchiveSource.weightsMember, parts: [bytes]) }
            }.get()
            try zip.finish()
        }
        return []
    }

    /// Groups, datasets and attributes; every group handle is closed before the file.
    private static func fill(_ file: borrowing HDF5File, _ plan: ExportPlan, path: String) throws(SheafError) {
        var groups: [String: Node] = [:]
        let root = try hdf5(path) { () throws(HDF5Error) in Node(try file.root()) }
        func group(_ parts: ArraySlice<String>) throws(SheafError) -> Node {
            if parts.isEmpty { return root }
            let name = parts.joined(separator: ".")
            if let node = groups[name] { return node }
            let parent = try group(parts.dropLast())
            let last = parts[parts.endIndex - 1]
            let node = try hdf5(path, key: name) { () throws(HDF5Error) in Node(try parent.group.createGroup(last)) }
            groups[name] = node
            return node
        }
        for (index, entry) in plan.entries.enumerated() {
            let parts = components(entry.key)
            let parent = try group(parts.dropLast())
            let tensor = try plan.tensor(index)
            do {
                try tensor.withUnsafeBytes { bytes in
                    try hdf5(path, key: entry.key) { () throws(HDF5Error) in
                        let type = try tensor.dtype.hdf5MemoryType()
                        _ = try HDF5Dataset.create(in: parent.group, name: parts[parts.count - 1], type: type, shape: tensor.shape,
                                                   storage: .contiguous, data: bytes)
                    }
                }
            } catch let error as SheafError {
                throw error
            } catch {
                throw SheafError(.io, file: path, key: entry.key, "\(error)")
            }
        }
        for (key, value) in plan.metadata.sorted(by: { $0.key < $1.key }) where !isArchiveMetadata(key) {
            let (owner, name): (Node, String)
            if let at = key.lastIndex(of: "@") {
                owner = try group(ArraySlice(components(String(key[..<at]))))
                name = String(key[key.index(after: at)...])
            } else {
                (owner, name) = (root, key)
            }
            try hdf5(path, key: key) { () throws(HDF5Error) in try owner.group.attributes.write(value.hdf5Attribute, name: name) }
        }
    }
}
