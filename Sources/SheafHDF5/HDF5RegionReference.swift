import CHDF5

/// The block `start ..< start + count` of a 1-d dataset: what a region
/// reference written by ``HDF5Group/createRegionReferences(_:targets:extents:)`` selects.
package struct HDF5RegionTarget: Sendable, Equatable {
    /// The dataset's path from the file's root group.
    package var dataset: String
    package var start: Int
    package var count: Int

    package init(dataset: String, start: Int, count: Int) {
        self.dataset = dataset
        self.start = start
        self.count = count
    }
}

/// What one stored region reference resolves to, read without touching raw data.
package struct HDF5RegionReferenceInfo: Sendable, Equatable {
    /// The object address of the dataset it names (``HDF5Dataset/objectAddress()``).
    package var address: UInt64
    /// The block it selects, when its selection is one block of a 1-d
    /// dataspace; nil for any other selection.
    package var block: Range<Int>?
}

extension HDF5Group {
    /// Creates `name`: a 1-d dataset of HDF5 1.10 dataset-region references
    /// (`H5T_STD_REF_DSETREG`, h5py's `RegionReference`), the i-th selecting
    /// `targets[i]`. `extents` gives the length of every 1-d dataset named.
    /// - Complexity: O(targets); about 1 µs per reference.
    package func createRegionReferences(_ name: String, targets: [HDF5RegionTarget], extents: [String: Int]) throws(HDF5Error) {
        let path = "\(self.path)/\(name)"
        let size = chdf5_region_ref_size()
        let references = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, targets.count * size), alignment: 16)
        defer { references.deallocate() }
        references.initializeMemory(as: UInt8.self, repeating: 0)
        var spaces: [String: HDF5DataspaceBox] = [:]
        let id = id
        for (index, target) in targets.enumerated() {
            guard let extent = extents[target.dataset], target.start >= 0, target.count > 0, target.start + target.count <= extent else {
                throw HDF5Error(operation: "H5Rcreate", object: path,
                                message: "the block \(target.start) + \(target.count) is not inside \(target.dataset)")
            }
            if spaces[target.dataset] == nil { spaces[target.dataset] = HDF5DataspaceBox(try HDF5Dataspace(shape: [extent])) }
            let spaceID = spaces[target.dataset]!.id
            let slot = references.baseAddress! + index * size
            try HDF5Library.call("H5Rcreate", path) {
                chdf5_region_ref_create(slot, id, target.dataset, spaceID, UInt64(target.start), UInt64(target.count))
            }
        }
        let space = try HDF5Dataspace(shape: [targets.count])
        let dcpl = try HDF5PropertyList(chdf5_p_dataset_create(), path)
        try HDF5Library.call("H5Pset_obj_track_times", path) { H5Pset_obj_track_times(dcpl.id, false) }
        let type = chdf5_t_std_ref_dsetreg()
        let dataset = HDF5Dataset(handle: try HDF5Handle("H5Dcreate2", path) {
            H5Dcreate2(id, name, type, space.id, chdf5_p_default(), dcpl.id, chdf5_p_default())
        })
        if !targets.isEmpty {
            try HDF5Library.call("H5Dwrite", path) {
                H5Dwrite(dataset.id, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), references.baseAddress)
            }
        }
        try dataset.close()
    }

    /// The region references stored in 1-d dataset `name`, resolved; nil when
    /// `name` is not a 1-d dataset of dataset-region references. At most
    /// `limit` are read (more is an error).
    /// - Complexity: O(references); no raw data of the datasets they name is read.
    package func regionReferences(_ name: String, limit: Int) throws(HDF5Error) -> [HDF5RegionReferenceInfo]? {
        let dataset = try openDataset(name)
        let path = dataset.path, datasetID = dataset.id
        let type = try dataset.datatype()
        let isReference = try HDF5Library.call("H5Tequal", path) { H5Tequal(type.id, chdf5_t_std_ref_dsetreg()) } > 0
        guard isReference, let shape = try dataset.shape(), shape.count == 1 else { return nil }
        guard shape[0] <= limit else {
            throw .refused(.limit, path, "\(shape[0]) references, over the limit of \(limit)")
        }
        _ = try dataset.checkReadable()  // a compressed dataset stays within the expansion limit
        let size = chdf5_region_ref_size()
        let references = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, shape[0] * size), alignment: 16)
        defer { references.deallocate() }
        references.initializeMemory(as: UInt8.self, repeating: 0)
        if shape[0] > 0 {
            try HDF5Library.call("H5Dread", path) {
                H5Dread(datasetID, chdf5_t_std_ref_dsetreg(), chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), references.baseAddress)
            }
        }
        var result: [HDF5RegionReferenceInfo] = []
        result.reserveCapacity(shape[0])
        for index in 0..<shape[0] {
            var address: UInt64 = 0, start: UInt64 = 0, count: UInt64 = 0
            let slot = UnsafeRawPointer(references.baseAddress! + index * size)
            let outcome = try HDF5Library.call("H5Rdereference2", "\(path)[\(index)]") {
                chdf5_region_ref_block(datasetID, slot, &address, &start, &count)
            }
            var block: Range<Int>?
            if outcome == 1, start <= UInt64(Int.max / 2), count <= UInt64(Int.max / 2) {
                block = Int(start)..<Int(start + count)
            }
            result.append(HDF5RegionReferenceInfo(address: address, block: block))
        }
        return result
    }

    /// Creates `name`: a 1-d dataset of fixed-length, NUL-padded UTF-8
    /// strings as long as the longest of `values` (h5py: `.asstr()`).
    /// The values must not contain NUL.
    package func createStrings(_ name: String, _ values: [String]) throws(HDF5Error) {
        let path = "\(self.path)/\(name)"
        let width = max(1, values.map(\.utf8.count).max() ?? 1)
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: width * max(1, values.count), alignment: 16)
        defer { bytes.deallocate() }
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
        for (index, value) in values.enumerated() {
            for (offset, byte) in value.utf8.enumerated() { bytes[index * width + offset] = byte }
        }
        let type = HDF5Datatype(handle: try HDF5Handle("H5Tcopy", "\(path) type") { chdf5_create_fixed_utf8_type(width) })
        let dataset = try HDF5Dataset.create(in: self, name: name, type: type, shape: [values.count], storage: .contiguous,
                                             data: values.isEmpty ? UnsafeRawBufferPointer(start: nil, count: 0) : UnsafeRawBufferPointer(bytes))
        try dataset.close()
    }

    /// The values of 1-d dataset `name` of fixed-length strings (NUL padding
    /// removed), or nil when it is not one; at most `limit` values of at most
    /// `width` bytes each, and at most `totalBytes` in all.
    package func strings(_ name: String, limit: Int, width: Int, totalBytes: Int) throws(HDF5Error) -> [String]? {
        let dataset = try openDataset(name)
        let path = dataset.path, datasetID = dataset.id
        let type = try dataset.datatype()
        let typeID = type.id
        let isString = try HDF5Library.call("H5Tget_class", path) { H5Tget_class(typeID).rawValue } == H5T_STRING.rawValue
        guard isString, try HDF5Library.call("H5Tis_variable_str", path, { H5Tis_variable_str(typeID) }) == 0,
              let shape = try dataset.shape(), shape.count == 1 else { return nil }
        let size = Int(try HDF5Library.call("H5Tget_size", path, failed: { $0 == 0 }) { H5Tget_size(typeID) })
        guard shape[0] <= limit, size <= width, shape[0] <= totalBytes / max(size, 1) else {
            throw .refused(.limit, path, "\(shape[0]) strings of \(size) bytes, over the limit of \(limit) of \(width) bytes and \(totalBytes) bytes in all")
        }
        _ = try dataset.checkReadable()  // a compressed dataset stays within the expansion limit
        let memory = HDF5Datatype(handle: try HDF5Handle("H5Tcopy", "\(path) type") { chdf5_create_fixed_utf8_type(size) })
        var bytes = [UInt8](repeating: 0, count: max(1, size * shape[0]))
        if shape[0] > 0 {
            try HDF5Library.call("H5Dread", path) {
                H5Dread(datasetID, memory.id, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), &bytes)
            }
        }
        return (0..<shape[0]).map { index in
            let field = bytes[(index * size)..<((index + 1) * size)]
            let end = field.firstIndex(of: 0) ?? field.endIndex
            return String(decoding: field[field.startIndex..<end], as: UTF8.self)
        }
    }
}

/// A dataspace kept in a dictionary (a `~Copyable` value cannot be).
private final class HDF5DataspaceBox {
    let space: HDF5Dataspace
    var id: hid_t { space.id }
    init(_ space: consuming HDF5Dataspace) { self.space = space }
}
