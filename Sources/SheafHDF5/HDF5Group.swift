import CHDF5

/// An open HDF5 group.
package struct HDF5Group: ~Copyable {
    package let handle: HDF5Handle
    var id: hid_t { handle.rawValue }
    /// This object's attributes.
    package var attributes: HDF5Attributes { HDF5Attributes(object: id, path: path) }
    /// `file:/path`, for messages.
    package var path: String { handle.object }

    init(handle: consuming HDF5Handle) { self.handle = handle }

    /// What a link in a group points at.
    package enum LinkTarget: Sendable, Equatable {
        case group, dataset, namedDatatype, softLink, externalLink, other
    }

    package func createGroup(_ name: String) throws(HDF5Error) -> HDF5Group {
        let gcpl = try HDF5PropertyList(chdf5_p_group_create(), path)
        try HDF5Library.call("H5Pset_obj_track_times", path) { H5Pset_obj_track_times(gcpl.id, false) }
        let id = id
        return HDF5Group(handle: try HDF5Handle("H5Gcreate2", "\(path)/\(name)") {
            H5Gcreate2(id, name, chdf5_p_default(), gcpl.id, chdf5_p_default())
        })
    }

    /// Opens the group at `name` (a path relative to this one), following hard
    /// links only.
    package func openGroup(_ name: String) throws(HDF5Error) -> HDF5Group {
        try checkHardLinks(along: name)
        let id = id
        return HDF5Group(handle: try HDF5Handle("H5Gopen2", "\(path)/\(name)") { H5Gopen2(id, name, chdf5_p_default()) })
    }

    /// Opens the dataset at `name` (a path relative to this group), following
    /// hard links only, and refuses it before any other call when its data is
    /// not stored inside this file (external storage, a virtual dataset).
    package func openDataset(_ name: String) throws(HDF5Error) -> HDF5Dataset {
        try checkHardLinks(along: name)
        let id = id
        let dataset = HDF5Dataset(handle: try HDF5Handle("H5Dopen2", "\(path)/\(name)") { H5Dopen2(id, name, chdf5_p_default()) })
        try dataset.checkInsideFile()
        return dataset
    }

    /// Checks that every link along `name` (`a`, `a/b`, `a/b/c`) is a hard link.
    private func checkHardLinks(along name: String) throws(HDF5Error) {
        guard name.utf8.contains(UInt8(ascii: "/")) else { return try checkHardLink(name) }
        var prefix = ""
        for component in name.split(separator: "/") {
            prefix += prefix.isEmpty ? String(component) : "/" + component
            try checkHardLink(prefix)
        }
    }

    /// Whether a link called `name` exists here.
    package func contains(_ name: String) throws(HDF5Error) -> Bool {
        let id = id
        return try HDF5Library.call("H5Lexists", "\(path)/\(name)") { H5Lexists(id, name, chdf5_p_default()) } > 0
    }

    /// Removes the link `name` (the object goes when its last link does).
    package func deleteLink(_ name: String) throws(HDF5Error) {
        let id = id
        try HDF5Library.call("H5Ldelete", "\(path)/\(name)") { H5Ldelete(id, name, chdf5_p_default()) }
    }

    /// Adds a second name for the object at `target` (a path relative to this group).
    package func createHardLink(to target: String, named name: String) throws(HDF5Error) {
        let id = id
        try HDF5Library.call("H5Lcreate_hard", "\(path)/\(name)") {
            H5Lcreate_hard(id, target, id, name, chdf5_p_default(), chdf5_p_default())
        }
    }

    /// The kind of a link, as stored (links are not followed).
    package enum LinkKind: Sendable, Equatable { case hard, soft, external, userDefined }

    /// The links of this group, in name order, read in one pass over the group.
    /// - Throws: a refusal when the group holds more than `limit` links.
    /// - Complexity: O(n) in the number of links.
    package func links(limit: Int) throws(HDF5Error) -> [(name: String, kind: LinkKind)] {
        final class Collector {
            var links: [(name: String, kind: LinkKind)] = []
            let limit: Int
            var overflow = false
            init(limit: Int) { self.limit = limit }
        }
        let collector = Collector(limit: limit)
        let id = id
        let context = Unmanaged.passUnretained(collector).toOpaque()
        try withExtendedLifetime(collector) { () throws(HDF5Error) in
            _ = try HDF5Library.call("H5Literate", path) {
                chdf5_iterate_links(id, { name, type, context in
                    let collector = Unmanaged<Collector>.fromOpaque(context!).takeUnretainedValue()
                    guard collector.links.count < collector.limit else { collector.overflow = true; return 1 }
                    let kind: LinkKind = switch type {
                    case Int32(H5L_TYPE_HARD.rawValue): .hard
                    case Int32(H5L_TYPE_SOFT.rawValue): .soft
                    case Int32(H5L_TYPE_EXTERNAL.rawValue): .external
                    default: .userDefined
                    }
                    collector.links.append((name.map { String(cString: $0) } ?? "", kind))
                    return 0
                }, context)
            }
        }
        if collector.overflow {
            throw .refused(.limit, path, "the group holds more than \(limit) links, over the limit")
        }
        return collector.links
    }

    /// The names of the links in this group, in name order.
    /// - Complexity: O(n) in the number of links.
    package func linkNames(limit: Int) throws(HDF5Error) -> [String] {
        try links(limit: limit).map(\.name)
    }

    /// What the link `name` points at, without following soft or external links.
    package func linkTarget(_ name: String) throws(HDF5Error) -> LinkTarget {
        if let slash = name.lastIndex(of: "/") { try checkHardLinks(along: String(name[..<slash])) }
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

    /// The group's address in the file: equal for two links to the same group.
    package func objectAddress() throws(HDF5Error) -> UInt64 {
        let id = id
        var address: UInt64 = 0
        try HDF5Library.call("H5Oget_info2", path) { chdf5_object_address(id, &address) }
        return address
    }

    package consuming func close() throws(HDF5Error) { try handle.close() }
}
