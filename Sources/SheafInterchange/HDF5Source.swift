import Sheaf
import SheafHDF5

/// Any HDF5 file (h5py, Keras, …): every numeric dataset becomes a tensor whose
/// key is its path with `/` replaced by `.`; other datasets are skipped with a note.
final class HDF5Source: TensorSource {
    static let maxDepth = 64
    let path: String
    let format = InterchangeFormat.hdf5
    let kind = SheafKind.dict
    let metadata: Metadata = [:]
    private(set) var entries: [SourceEntry] = []
    private(set) var notes: [String] = []
    private var datasetPaths: [String] = []
    private let file: HDF5File

    init(path: String) throws(SheafError) {
        self.path = path
        file = try Self.call(path) { () throws(HDF5Error) in try HDF5File.open(path: path) }
        var visited: Set<UInt64> = []
        try walk("", depth: 0, visited: &visited)
    }

    private static func call<R: ~Copyable>(_ path: String, key: String? = nil, _ body: () throws(HDF5Error) -> R) throws(SheafError) -> R {
        do { return try body() } catch { throw SheafError(.hdf5, file: path, key: key, "HDF5 \(error.description)") }
    }

    private func walk(_ groupPath: String, depth: Int, visited: inout Set<UInt64>) throws(SheafError) {
        guard depth < Self.maxDepth else {
            throw SheafError(.limitExceeded, file: path, "groups nested deeper than \(Self.maxDepth)")
        }
        let names = try Self.call(path) { () throws(HDF5Error) in
            let root = try file.root()
            if groupPath.isEmpty { return try root.linkNames(limit: FormatLayout.maxTensors) }
            return try root.openGroup(groupPath).linkNames(limit: FormatLayout.maxTensors)
        }
        for name in names {
            let full = groupPath.isEmpty ? name : groupPath + "/" + name
            let key = full.replacingOccurrences(of: "/", with: ".")
            let target = try Self.call(path, key: key) { () throws(HDF5Error) in
                try file.root().linkTarget(full)
            }
            switch target {
            case .group:
                try walk(full, depth: depth + 1, visited: &visited)
            case .dataset:
                let found: (DType, [Int], String, UInt64)? = try Self.call(path, key: key) { () throws(HDF5Error) in
                    let dataset = try file.root().openDataset(full)
                    let info = try dataset.datatype().describe()
                    guard let shape = try dataset.shape(), let dtype = DType.allCases.first(where: { $0.matches(hdf5: info) }) else {
                        return nil
                    }
                    let (layout, filters) = try dataset.layout()
                    return (dtype, shape, filters.isEmpty ? "\(layout)" : "\(layout) filters \(filters)", try dataset.objectAddress())
                }
                guard let (dtype, shape, storage, address) = found else {
                    notes.append("skipped /\(full): not a numeric dataset")
                    continue
                }
                if let first = visited.contains(address) ? datasetAddressOwner[address] : nil {
                    entries.append(SourceEntry(key: key, dtype: dtype, shape: shape, tiedTo: first, storage: storage))
                } else {
                    visited.insert(address)
                    datasetAddressOwner[address] = key
                    entries.append(SourceEntry(key: key, dtype: dtype, shape: shape, storage: storage))
                }
                datasetPaths.append(full)
                do { _ = try Shape.byteCount(shape, dtype) } catch { throw error.with(file: path, key: key) }
            default:
                notes.append("skipped /\(full): \(target)")
            }
        }
    }

    private var datasetAddressOwner: [UInt64: String] = [:]

    func tensor(at index: Int) throws(SheafError) -> Tensor {
        let entry = entries[index]
        let storage = try Tensor(zeros: entry.shape, dtype: entry.dtype)
        var tensor = storage
        let full = datasetPaths[index]
        try Self.call(path, key: entry.key) { () throws(HDF5Error) in
            let dataset = try file.root().openDataset(full)
            let memoryType = try entry.dtype.hdf5MemoryType()
            if entry.byteCount > 0 {
                try tensor.withUnsafeMutableBytes { buffer in
                    Result { () throws(HDF5Error) in try dataset.read(into: buffer, as: memoryType) }
                }.get()
            }
        }
        return tensor
    }
}
