import CHDF5

/// An HDF5 dataspace: a scalar, or a simple N-d extent.
package struct HDF5Dataspace: ~Copyable {
    package let handle: HDF5Handle
    var id: hid_t { handle.rawValue }

    init(handle: consuming HDF5Handle) { self.handle = handle }

    /// A scalar dataspace when `shape` is empty, else a simple one with fixed dims.
    package init(shape: [Int]) throws(HDF5Error) {
        if shape.isEmpty {
            handle = try HDF5Handle("H5Screate", "dataspace") { H5Screate(H5S_SCALAR) }
        } else {
            let dims = shape.map { hsize_t($0) }
            handle = try HDF5Handle("H5Screate_simple", "dataspace") {
                H5Screate_simple(Int32(dims.count), dims, nil)
            }
        }
    }

    /// The extent: `nil` for a null dataspace, `[]` for a scalar.
    package func shape() throws(HDF5Error) -> [Int]? {
        let id = id
        let kind = try HDF5Library.call("H5Sget_simple_extent_type", handle.object) {
            H5Sget_simple_extent_type(id).rawValue
        }
        if kind == H5S_NULL.rawValue { return nil }
        if kind == H5S_SCALAR.rawValue { return [] }
        let rank = try HDF5Library.call("H5Sget_simple_extent_ndims", handle.object) {
            H5Sget_simple_extent_ndims(id)
        }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        try HDF5Library.call("H5Sget_simple_extent_dims", handle.object) {
            H5Sget_simple_extent_dims(id, &dims, nil)
        }
        var result: [Int] = []
        for d in dims {
            guard d <= hsize_t(Int.max) else {
                throw HDF5Error(operation: "H5Sget_simple_extent_dims", object: handle.object,
                                message: "dimension \(d) is too large")
            }
            result.append(Int(d))
        }
        return result
    }
}

/// An HDF5 property list the caller owns.
package struct HDF5PropertyList: ~Copyable {
    package let handle: HDF5Handle
    var id: hid_t { handle.rawValue }

    package init(_ cls: hid_t, _ what: String) throws(HDF5Error) {
        handle = try HDF5Handle("H5Pcreate", what) { H5Pcreate(cls) }
    }

    init(handle: consuming HDF5Handle) { self.handle = handle }
}
