import Sheaf
import SheafHDF5

/// Any HDF5 file (h5py, Keras, …): every numeric dataset becomes a tensor whose
/// key is its path with `/` replaced by `.`; other datasets are skipped with a note.
/// Attributes are carried as metadata: the root's under their names, a group's
/// as `GROUP.KEY@NAME`, a dataset's on its tensor; an attribute of a type
/// metadata cannot hold is named in a note.
///
/// Only data inside the file is read (the read policy of the HDF5 layer): a
/// soft, external or user-defined link, external storage or a virtual dataset
/// anywhere in the walk is refused, as are groups reachable by more than one
/// path and two paths that would give the same key. The walk visits each group
/// once, so its cost is linear in the file's objects.
final class HDF5Source: TensorSource {
    static let maxDepth = 64
    let path: String
    let format = InterchangeFormat.hdf5
    let kind = SheafKind.dict
    private(set) var metadata: Metadata = [:]
    private(set) var entries: [SourceEntry] = []
    /// Each entry's dataset attributes.
    private var tensorMetadata: [Metadata] = []
    private(set) var notes: [String] = []
    /// Where each entry's dataset is: its group (kept open) and its name there.
    private var locations: [(group: OpenGroup, name: String, path: String)] = []
    private let file: HDF5File
    private var datasetOwners: [UInt64: String] = [:]
    private var groupPaths: [UInt64: String] = [:]
    private var keyPaths: [String: String] = [:]
    private var visits = 0

    init(path: String) throws(SheafError) {
        self.path = path
        file = try hdf5(path) { () throws(HDF5Error) in try HDF5File.open(path: path) }
        try walk("", depth: 0)
    }

    /// A group held open for the source's lifetime: names are resolved from it,
    /// never from the root again (each lookup through the root scans the root's
    /// object header, every file attribute included).
    final class OpenGroup {
        let group: HDF5Group
        init(_ group: consuming HDF5Group) { self.group = group }
    }

    private func walk(_ groupPath: String, depth: Int, parent: OpenGroup? = nil, name: String = "") throws(SheafError) {
        guard depth < Self.maxDepth else {
            throw SheafError(.limitExceeded, file: path, "groups nested deeper than \(Self.maxDepth)")
        }
        let current = try hdf5(path) { () throws(HDF5Error) -> OpenGroup in
            guard let parent else { return OpenGroup(try file.root()) }
            return OpenGroup(try parent.group.openGroup(name))
        }
        let (links, address) = try hdf5(path) { () throws(HDF5Error) in
            (try current.group.links(limit: FormatLayout.maxTensors), try current.group.objectAddress())
        }
        if let first = groupPaths[address] {
            throw SheafError(.invalidFile, file: path,
                             "group /\(groupPath) is /\(first) reached again by another path; groups linked from more than one place are not supported")
        }
        groupPaths[address] = groupPath
        let prefix = groupPath.replacingOccurrences(of: "/", with: ".")
        for (name, value) in try attributes(of: current.group.attributes, at: groupPath) {
            metadata[prefix.isEmpty ? name : prefix + "@" + name] = value
        }
        for (name, kind) in links {
            let full = groupPath.isEmpty ? name : groupPath + "/" + name
            let key = full.replacingOccurrences(of: "/", with: ".")
            visits += 1
            guard visits <= FormatLayout.maxTensors else {
                throw SheafError(.limitExceeded, file: path, "more than \(FormatLayout.maxTensors) objects")
            }
            guard kind == .hard else {
                let what = kind == .soft ? "a soft link" : kind == .external ? "an external link (to another file)" : "a user-defined link"
                throw SheafError(.unsupported, file: path, key: key, "/\(full) is \(what); Sheaf follows only hard links and reads only the file it was given")
            }
            let target = try hdf5(path, key: key) { () throws(HDF5Error) in try current.group.linkTarget(name) }
            switch target {
            case .group:
                try walk(full, depth: depth + 1, parent: current, name: name)
            case .dataset:
                try addDataset(full, key: key, in: current, name: name)
            default:
                notes.append("skipped /\(full): \(target)")
            }
        }
    }

    private func addDataset(_ full: String, key: String, in group: OpenGroup, name: String) throws(SheafError) {
        let found: (DType, [Int], String, UInt64)? = try hdf5(path, key: key) { () throws(HDF5Error) in
            let dataset = try group.group.openDataset(name)
            let info = try dataset.datatype().describe()
            guard let shape = try dataset.shape(), let dtype = DType.allCases.first(where: { $0.matches(hdf5: info) }) else {
                return nil
            }
            _ = try dataset.checkReadable()
            let (layout, filters) = try dataset.layout()
            return (dtype, shape, filters.isEmpty ? "\(layout)" : "\(layout) filters \(filters)", try dataset.objectAddress())
        }
        guard let (dtype, shape, storage, address) = found else {
            notes.append("skipped /\(full): not a numeric dataset")
            return
        }
        if let other = keyPaths[key] {
            throw SheafError(.invalidFile, file: path, key: key,
                             "/\(other) and /\(full) both map to the key '\(key)'; rename one of them")
        }
        keyPaths[key] = full
        do { _ = try Shape.byteCount(shape, dtype) } catch { throw error.with(file: path, key: key) }
        if let first = datasetOwners[address] {
            entries.append(SourceEntry(key: key, dtype: dtype, shape: shape, tiedTo: first, storage: storage))
        } else {
            datasetOwners[address] = key
            entries.append(SourceEntry(key: key, dtype: dtype, shape: shape, storage: storage))
        }
        locations.append((group, name, full))
        let dataset = try hdf5(path, key: key) { () throws(HDF5Error) in try group.group.openDataset(name) }
        tensorMetadata.append(try attributes(of: dataset.attributes, at: full))  // read while the dataset is open
    }

    /// The attributes of one object as metadata; those of other types, or with
    /// names metadata cannot have, are named in a note.
    private func attributes(of attributes: HDF5Attributes, at objectPath: String) throws(SheafError) -> Metadata {
        let names = try hdf5(path) { () throws(HDF5Error) in try attributes.names() }
        guard !names.isEmpty else { return [:] }
        let usable = names.filter { !$0.isEmpty && !$0.contains("/") && !$0.hasPrefix(FormatLayout.reservedPrefix) }
        let values = try SheafFile.readMetadata(attributes, names: usable, path: path, key: nil)
        let dropped = names.filter { values[$0] == nil }
        if !dropped.isEmpty {
            notes.append("attributes of /\(objectPath) not carried (a type or name metadata cannot hold): \(dropped.joined(separator: ", "))")
        }
        return values
    }

    func tensor(at index: Int) throws(SheafError) -> Tensor {
        let entry = entries[index]
        let (group, name, full) = locations[index]
        return try hdf5(path, key: entry.key) { () throws(HDF5Error) -> Tensor in
            let dataset = try group.group.openDataset(name)
            let memoryType = try entry.dtype.hdf5MemoryType()
            do {
                var tensor = try Tensor(dtype: entry.dtype, shape: entry.shape) { buffer in
                    try dataset.read(into: buffer, as: memoryType)
                }
                tensor.metadata = tensorMetadata[index]
                return tensor
            } catch let error as HDF5Error {
                throw error
            } catch {
                throw HDF5Error(operation: "H5Dread", object: full, message: "\(error)")
            }
        }
    }
}
