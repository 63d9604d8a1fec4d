import CHDF5

/// One mapping of a virtual dataset: the block `start..<start+count` of the
/// virtual dataset is the whole of dataset `dataset` in file `file`.
///
/// This is the only shape of mapping Sheaf writes (a distributed checkpoint's
/// master, Spec/FORMAT.md §17) and the only one it accepts when it inspects one.
package struct HDF5VirtualMapping: Sendable, Equatable {
    /// The source file's name as stored (relative names are looked up beside
    /// the virtual dataset's file by HDF5 readers).
    package var file: String
    /// The source dataset's path inside `file`.
    package var dataset: String
    /// Where the block starts in the virtual dataset, per dimension.
    package var start: [Int]
    /// The block's extent, per dimension: the source dataset's extent.
    package var count: [Int]

    package init(file: String, dataset: String, start: [Int], count: [Int]) {
        self.file = file
        self.dataset = dataset
        self.start = start
        self.count = count
    }
}

extension HDF5Dataset {
    /// Creates virtual dataset `name` of `shape` in `group`, each of `mappings`
    /// placing a whole source dataset at a block. Reads and writes no data;
    /// elements no mapping covers read as zero.
    package static func createVirtual(
        in group: borrowing HDF5Group, name: String, type: borrowing HDF5Datatype, shape: [Int],
        mappings: [HDF5VirtualMapping]
    ) throws(HDF5Error) -> HDF5Dataset {
        let path = "\(group.path)/\(name)"
        let space = try HDF5Dataspace(shape: shape)
        let dcpl = try HDF5PropertyList(chdf5_p_dataset_create(), path)
        try HDF5Library.call("H5Pset_obj_track_times", path) { H5Pset_obj_track_times(dcpl.id, false) }
        // Virtual even without a mapping (an empty tensor).
        try HDF5Library.call("H5Pset_layout", path) { H5Pset_layout(dcpl.id, H5D_VIRTUAL) }
        for mapping in mappings {
            guard mapping.start.count == shape.count, mapping.count.count == shape.count else {
                throw HDF5Error(operation: "H5Pset_virtual", object: path,
                                message: "a mapping of rank \(mapping.count.count) into an extent of rank \(shape.count)")
            }
            let target = try HDF5Dataspace(shape: shape)
            if !shape.isEmpty {
                let start = mapping.start.map { hsize_t($0) }, count = mapping.count.map { hsize_t($0) }
                try HDF5Library.call("H5Sselect_hyperslab", path) {
                    H5Sselect_hyperslab(target.id, H5S_SELECT_SET, start, nil, count, nil)
                }
            }
            let source = try HDF5Dataspace(shape: mapping.count)
            try HDF5Library.call("H5Pset_virtual", path) {
                H5Pset_virtual(dcpl.id, target.id, mapping.file, mapping.dataset, source.id)
            }
        }
        let groupID = group.id, typeID = type.id
        return HDF5Dataset(handle: try HDF5Handle("H5Dcreate2", path) {
            H5Dcreate2(groupID, name, typeID, space.id, chdf5_p_default(), dcpl.id, chdf5_p_default())
        })
    }
}

extension HDF5Group {
    /// The extent and mappings of virtual dataset `name`, read from its
    /// creation properties without opening any source file; nil when `name`
    /// is not a virtual dataset. A mapping of any other shape than
    /// ``HDF5VirtualMapping`` describes (a whole source onto one block) is
    /// refused as malformed. At most `limit` mappings are read.
    /// Also returns the dataset's type (as ``HDF5Datatype/describe()`` gives it)
    /// and the string value of its attribute `attribute`, when it has one.
    package func virtualMappings(_ name: String, limit: Int, attribute: String)
        throws(HDF5Error) -> (shape: [Int], mappings: [HDF5VirtualMapping], type: HDF5TypeInfo, attribute: String?)? {
        try checkHardLink(name)
        let id = id, path = "\(self.path)/\(name)"
        let dataset = HDF5Dataset(handle: try HDF5Handle("H5Dopen2", path) { H5Dopen2(id, name, chdf5_p_default()) })
        let datasetID = dataset.id
        let dcpl = HDF5PropertyList(handle: try HDF5Handle("H5Dget_create_plist", path) { H5Dget_create_plist(datasetID) })
        let layout = try HDF5Library.call("H5Pget_layout", path) { H5Pget_layout(dcpl.id).rawValue }
        guard layout == H5D_VIRTUAL.rawValue else { return nil }
        var count = 0
        try HDF5Library.call("H5Pget_virtual_count", path) { H5Pget_virtual_count(dcpl.id, &count) }
        guard count <= limit else {
            throw .refused(.limit, path, "\(count) virtual mappings, over the limit of \(limit)")
        }
        var mappings: [HDF5VirtualMapping] = []
        var extent: [Int]?
        for index in 0..<count {
            let target = HDF5Dataspace(handle: try HDF5Handle("H5Pget_virtual_vspace", path) { H5Pget_virtual_vspace(dcpl.id, index) })
            let source = HDF5Dataspace(handle: try HDF5Handle("H5Pget_virtual_srcspace", path) { H5Pget_virtual_srcspace(dcpl.id, index) })
            guard let shape = try target.shape() else {
                throw .refused(.malformed, path, "virtual mapping \(index) has a null dataspace")
            }
            if let extent, extent != shape {
                throw .refused(.malformed, path, "virtual mappings disagree on the dataset's extent")
            }
            extent = shape
            let box = try target.selectedBlock(path)
            // The source's extent is not stored (HDF5 learns it when it opens the
            // source); its selection must be all of it.
            guard try source.selectsAll(path) else {
                throw .refused(.malformed, path, "virtual mapping \(index) is not a whole source dataset onto one block")
            }
            let file = try Self.virtualString(path) { buffer, size in H5Pget_virtual_filename(dcpl.id, index, buffer, size) }
            let sourceName = try Self.virtualString(path) { buffer, size in H5Pget_virtual_dsetname(dcpl.id, index, buffer, size) }
            mappings.append(HDF5VirtualMapping(file: file, dataset: sourceName, start: box.start, count: box.count))
        }
        let type = try dataset.datatype().describe()
        var value: String?
        if try dataset.attributes.names().contains(attribute), case .string(let text)? = try dataset.attributes.read(attribute) {
            value = text
        }
        if let extent { return (extent, mappings, type, value) }
        // No mapping: no source to open, so the extent can be asked for.
        guard let shape = try dataset.shape() else {
            throw .refused(.malformed, path, "a virtual dataset with a null dataspace")
        }
        return (shape, [], type, value)
    }

    /// A string an `H5Pget_virtual_*name` call fills in (at most 4096 bytes).
    private static func virtualString(_ path: String, _ call: (UnsafeMutablePointer<CChar>?, Int) -> Int) throws(HDF5Error) -> String {
        let length = try HDF5Library.call("H5Pget_virtual_name", path) { call(nil, 0) }
        guard length <= 4096 else { throw .refused(.limit, path, "a virtual mapping names a source of \(length) bytes") }
        var buffer = [CChar](repeating: 0, count: length + 1)
        try HDF5Library.call("H5Pget_virtual_name", path) { buffer.withUnsafeMutableBufferPointer { call($0.baseAddress, $0.count) } }
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension HDF5Dataspace {
    /// The one block the selection is: its start and extent per dimension
    /// (empty for a scalar). Anything else (points, several blocks) is refused.
    func selectedBlock(_ path: String) throws(HDF5Error) -> (start: [Int], count: [Int]) {
        let id = id
        guard let shape = try shape() else { throw .refused(.malformed, path, "a null dataspace") }
        if shape.isEmpty { return ([], []) }
        let points = try HDF5Library.call("H5Sget_select_npoints", path) { H5Sget_select_npoints(id) }
        if points == 0 { return (shape.map { _ in 0 }, shape.map { _ in 0 }) }
        var low = [hsize_t](repeating: 0, count: shape.count), high = low
        try HDF5Library.call("H5Sget_select_bounds", path) { H5Sget_select_bounds(id, &low, &high) }
        let start = low.map { Int(clamping: $0) }
        let count = zip(low, high).map { Int(clamping: $1 - $0 + 1) }
        let volume = count.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        guard volume == Int(points), zip(start, count).allSatisfy({ $0 >= 0 && $1 >= 0 }),
              zip(zip(start, count), shape).allSatisfy({ $0.0 + $0.1 <= $1 }) else {
            throw .refused(.malformed, path, "a virtual mapping's selection is not one block inside the extent")
        }
        return (start, count)
    }

    /// Whether the selection is all of the extent, whatever the extent is.
    func selectsAll(_ path: String) throws(HDF5Error) -> Bool {
        let id = id
        return try HDF5Library.call("H5Sget_select_type", path) { H5Sget_select_type(id).rawValue } == H5S_SEL_ALL.rawValue
    }
}
