import CHDF5

/// How a dataset's raw data is laid out in the file.
package enum HDF5Layout: Sendable, Equatable {
    /// One block of raw data at `offset` (nil while no space is allocated).
    case contiguous
    /// Chunks of the given shape, optionally through shuffle and deflate filters.
    case chunked
    /// Raw data kept inside the object header.
    case compact
    case virtual
}

/// Options for a dataset's storage when writing.
package enum HDF5StorageRequest: Sendable, Equatable {
    case contiguous
    /// Chunked with the shuffle filter then deflate at `level` (0-9).
    case deflate(level: Int, chunk: [Int])
}

/// An open HDF5 dataset.
package struct HDF5Dataset: ~Copyable {
    package let handle: HDF5Handle
    var id: hid_t { handle.rawValue }
    /// This object's attributes.
    package var attributes: HDF5Attributes { HDF5Attributes(object: id, path: path) }
    package var path: String { handle.object }

    init(handle: consuming HDF5Handle) { self.handle = handle }

    /// Creates dataset `name` in `group` and writes `data` (which must hold the
    /// whole extent, in the type's byte layout).
    package static func create(
        in group: borrowing HDF5Group, name: String, type: borrowing HDF5Datatype, shape: [Int],
        storage: HDF5StorageRequest, data: UnsafeRawBufferPointer
    ) throws(HDF5Error) -> HDF5Dataset {
        let path = "\(group.path)/\(name)"
        let space = try HDF5Dataspace(shape: shape)
        let dcpl = try HDF5PropertyList(chdf5_p_dataset_create(), path)
        try HDF5Library.call("H5Pset_obj_track_times", path) { H5Pset_obj_track_times(dcpl.id, false) }
        try HDF5Library.call("H5Pset_fill_time", path) { H5Pset_fill_time(dcpl.id, H5D_FILL_TIME_NEVER) }
        switch storage {
        case .contiguous:
            try HDF5Library.call("H5Pset_layout", path) { H5Pset_layout(dcpl.id, H5D_CONTIGUOUS) }
            try HDF5Library.call("H5Pset_alloc_time", path) { H5Pset_alloc_time(dcpl.id, H5D_ALLOC_TIME_LATE) }
        case .deflate(let level, let chunk):
            let dims = chunk.map { hsize_t($0) }
            try HDF5Library.call("H5Pset_chunk", path) { H5Pset_chunk(dcpl.id, Int32(dims.count), dims) }
            try HDF5Library.call("H5Pset_shuffle", path) { H5Pset_shuffle(dcpl.id) }
            try HDF5Library.call("H5Pset_deflate", path) { H5Pset_deflate(dcpl.id, UInt32(level)) }
        }
        let groupID = group.id, typeID = type.id
        let size = Int(try HDF5Library.call("H5Tget_size", path, failed: { $0 == 0 }) { H5Tget_size(typeID) })
        let elements = shape.reduce(1) { $0 * $1 }
        guard data.count == 0 || elements.multipliedReportingOverflow(by: size) == (data.count, false) else {
            throw HDF5Error(operation: "H5Dwrite", object: path,
                            message: "\(data.count) bytes of data for \(elements) elements of \(size) bytes")
        }
        let dataset = HDF5Dataset(handle: try HDF5Handle("H5Dcreate2", path) {
            H5Dcreate2(groupID, name, typeID, space.id, chdf5_p_default(), dcpl.id, chdf5_p_default())
        })
        if data.count > 0 {
            try HDF5Library.call("H5Dwrite", path) {
                H5Dwrite(dataset.id, typeID, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), data.baseAddress)
            }
        }
        return dataset
    }

    /// The dataset's extent (`[]` for a scalar; `nil` for a null dataspace).
    package func shape() throws(HDF5Error) -> [Int]? {
        let id = id
        let space = HDF5Dataspace(handle: try HDF5Handle("H5Dget_space", path) { H5Dget_space(id) })
        return try space.shape()
    }

    /// The dataset's type as stored in the file.
    package func datatype() throws(HDF5Error) -> HDF5Datatype {
        let id = id
        return HDF5Datatype(handle: try HDF5Handle("H5Dget_type", path) { H5Dget_type(id) })
    }

    /// The layout and, for chunked data, the filter identifiers in pipeline order.
    package func layout() throws(HDF5Error) -> (layout: HDF5Layout, filters: [Int32]) {
        let id = id
        let dcpl = HDF5PropertyList(handle: try HDF5Handle("H5Dget_create_plist", path) { H5Dget_create_plist(id) })
        let layout = try HDF5Library.call("H5Pget_layout", path) { H5Pget_layout(dcpl.id).rawValue }
        let count = try HDF5Library.call("H5Pget_nfilters", path) { H5Pget_nfilters(dcpl.id) }
        var filters: [Int32] = []
        for index in 0..<UInt32(min(count, 64)) {
            var flags: UInt32 = 0
            var elements = 0
            var name = [CChar](repeating: 0, count: 64)
            var config: UInt32 = 0
            let filter = try HDF5Library.call("H5Pget_filter2", path) {
                H5Pget_filter2(dcpl.id, index, &flags, &elements, nil, name.count, &name, &config)
            }
            filters.append(filter)
        }
        switch layout {
        case H5D_CONTIGUOUS.rawValue: return (.contiguous, filters)
        case H5D_CHUNKED.rawValue: return (.chunked, filters)
        case H5D_COMPACT.rawValue: return (.compact, filters)
        default: return (.virtual, filters)
        }
    }

    /// The file offset of contiguous raw data, or nil when none is allocated or
    /// the layout is not contiguous.
    package func offset() throws(HDF5Error) -> UInt64? {
        let id = id
        let address = try HDF5Library.call("H5Dget_offset", path, failed: { _ in false }) { H5Dget_offset(id) }
        return address == chdf5_haddr_undef() ? nil : UInt64(address)
    }

    /// Bytes allocated in the file for the raw data.
    package func storageSize() throws(HDF5Error) -> UInt64 {
        let id = id
        return UInt64(try HDF5Library.call("H5Dget_storage_size", path, failed: { _ in false }) { H5Dget_storage_size(id) })
    }

    /// The object's address: equal for two links to the same dataset.
    package func objectAddress() throws(HDF5Error) -> UInt64 {
        let id = id
        var address: UInt64 = 0
        try HDF5Library.call("H5Oget_info2", path) { chdf5_object_address(id, &address) }
        return address
    }

    /// Reads the whole dataset into `buffer`, converted by HDF5 to `memoryType`.
    ///
    /// Checks first that the dataset's data is inside this file and that the
    /// read stays within ``HDF5ReadLimits``, and that `buffer` holds exactly the
    /// extent in `memoryType`.
    package func read(into buffer: UnsafeMutableRawBufferPointer, as memoryType: borrowing HDF5Datatype) throws(HDF5Error) {
        _ = try checkReadable()
        let id = id, typeID = memoryType.id
        let elements = try (shape() ?? [0]).reduce(1) { $0 * $1 }
        let size = Int(try HDF5Library.call("H5Tget_size", path, failed: { $0 == 0 }) { H5Tget_size(typeID) })
        guard elements.multipliedReportingOverflow(by: size) == (buffer.count, false) else {
            throw HDF5Error(operation: "H5Dread", object: path,
                            message: "a buffer of \(buffer.count) bytes for \(elements) elements of \(size) bytes")
        }
        guard buffer.count > 0 else { return }
        try HDF5Library.call("H5Dread", path) {
            H5Dread(id, typeID, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), buffer.baseAddress)
        }
    }

    /// Reads `rows` of a 1-d dataset into `buffer`, converted by HDF5 to
    /// `memoryType`. The caller runs ``checkReadable()`` first, once for all
    /// the rows it reads.
    /// - Complexity: O(rows.count): only those elements are read.
    package func read(rows: Range<Int>, into buffer: UnsafeMutableRawBufferPointer, as memoryType: borrowing HDF5Datatype) throws(HDF5Error) {
        let id = id, typeID = memoryType.id
        guard let shape = try shape(), shape.count == 1, rows.lowerBound >= 0, rows.upperBound <= shape[0] else {
            throw HDF5Error(operation: "H5Dread", object: path, message: "rows \(rows) of a dataset that is not 1-d of at least \(rows.upperBound) elements")
        }
        let size = Int(try HDF5Library.call("H5Tget_size", path, failed: { $0 == 0 }) { H5Tget_size(typeID) })
        guard rows.count.multipliedReportingOverflow(by: size) == (buffer.count, false) else {
            throw HDF5Error(operation: "H5Dread", object: path,
                            message: "a buffer of \(buffer.count) bytes for \(rows.count) elements of \(size) bytes")
        }
        guard !rows.isEmpty else { return }
        let fileSpace = HDF5Dataspace(handle: try HDF5Handle("H5Dget_space", path) { H5Dget_space(id) })
        let fileSpaceID = fileSpace.id
        let start = [hsize_t(rows.lowerBound)], count = [hsize_t(rows.count)]
        try HDF5Library.call("H5Sselect_hyperslab", path) {
            H5Sselect_hyperslab(fileSpaceID, H5S_SELECT_SET, start, nil, count, nil)
        }
        let memorySpace = try HDF5Dataspace(shape: [rows.count])
        let memorySpaceID = memorySpace.id
        try HDF5Library.call("H5Dread", path) {
            H5Dread(id, typeID, memorySpaceID, fileSpaceID, chdf5_p_default(), buffer.baseAddress)
        }
    }

    package consuming func close() throws(HDF5Error) { try handle.close() }
}
