import CHDF5

/// An open HDF5 group.
public struct HDF5Group: ~Copyable {
    public let handle: HDF5Handle
    public var id: hid_t { handle.rawValue }
    /// `file:/path`, for messages.
    public var path: String { handle.object }

    init(handle: consuming HDF5Handle) { self.handle = handle }

    /// What a link in a group points at.
    public enum LinkTarget: Sendable, Equatable {
        case group, dataset, namedDatatype, softLink, externalLink, other
    }

    public func createGroup(_ name: String) throws(HDF5Error) -> HDF5Group {
        let gcpl = try HDF5PropertyList(chdf5_p_group_create(), path)
        try HDF5Library.call("H5Pset_obj_track_times", path) { H5Pset_obj_track_times(gcpl.id, false) }
        let id = id
        return HDF5Group(handle: try HDF5Handle("H5Gcreate2", "\(path)/\(name)") {
            H5Gcreate2(id, name, chdf5_p_default(), gcpl.id, chdf5_p_default())
        })
    }

    public func openGroup(_ name: String) throws(HDF5Error) -> HDF5Group {
        let id = id
        return HDF5Group(handle: try HDF5Handle("H5Gopen2", "\(path)/\(name)") { H5Gopen2(id, name, chdf5_p_default()) })
    }

    public func openDataset(_ name: String) throws(HDF5Error) -> HDF5Dataset {
        let id = id
        return HDF5Dataset(handle: try HDF5Handle("H5Dopen2", "\(path)/\(name)") { H5Dopen2(id, name, chdf5_p_default()) })
    }

    /// Whether a link called `name` exists here.
    public func contains(_ name: String) throws(HDF5Error) -> Bool {
        let id = id
        return try HDF5Library.call("H5Lexists", "\(path)/\(name)") { H5Lexists(id, name, chdf5_p_default()) } > 0
    }

    /// Adds a second name for the object at `target` (a path relative to this group).
    public func createHardLink(to target: String, named name: String) throws(HDF5Error) {
        let id = id
        try HDF5Library.call("H5Lcreate_hard", "\(path)/\(name)") {
            H5Lcreate_hard(id, target, id, name, chdf5_p_default(), chdf5_p_default())
        }
    }

    /// The names of the links in this group, in name order.
    /// - Complexity: O(n log n) in the number of links.
    public func linkNames(limit: Int) throws(HDF5Error) -> [String] {
        let id = id
        var info = H5G_info_t()
        try HDF5Library.call("H5Gget_info", path) { H5Gget_info(id, &info) }
        guard info.nlinks <= hsize_t(limit) else {
            throw HDF5Error(operation: "H5Gget_info", object: path,
                            message: "group holds \(info.nlinks) links, over the limit of \(limit)")
        }
        var names: [String] = []
        names.reserveCapacity(Int(info.nlinks))
        for index in 0..<info.nlinks {
            let length = try HDF5Library.call("H5Lget_name_by_idx", path) {
                H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, chdf5_p_default())
            }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            try HDF5Library.call("H5Lget_name_by_idx", path) {
                H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, chdf5_p_default())
            }
            names.append(String(decoding: buffer[..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names
    }

    /// What the link `name` points at, without following soft or external links.
    public func linkTarget(_ name: String) throws(HDF5Error) -> LinkTarget {
        let id = id
        var link = H5L_info_t()
        try HDF5Library.call("H5Lget_info", "\(path)/\(name)") { H5Lget_info(id, name, &link, chdf5_p_default()) }
        switch link.type {
        case H5L_TYPE_SOFT: return .softLink
        case H5L_TYPE_HARD: break
        case H5L_TYPE_EXTERNAL: return .externalLink
        default: return .other
        }
        let object = try HDF5Handle("H5Oopen", "\(path)/\(name)") { H5Oopen(id, name, chdf5_p_default()) }
        let type = try HDF5Library.call("H5Iget_type", "\(path)/\(name)") { H5Iget_type(object.rawValue).rawValue }
        switch type {
        case H5I_GROUP.rawValue: return .group
        case H5I_DATASET.rawValue: return .dataset
        case H5I_DATATYPE.rawValue: return .namedDatatype
        default: return .other
        }
    }

    public consuming func close() throws(HDF5Error) { try handle.close() }
}
