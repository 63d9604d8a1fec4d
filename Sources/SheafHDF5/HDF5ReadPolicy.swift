import CHDF5

/// Caps on what one read may cost, so memory follows the bytes a file holds
/// rather than what it claims (Spec/FORMAT.md, "Security considerations").
package enum HDF5ReadLimits {
    /// The most chunks one dataset may have: libhdf5 keeps per-chunk state of a
    /// few KiB while reading, so a million one-element chunks would cost GiBs.
    package static let maxChunks = 65_536
    /// The most a dataset's decoded bytes may exceed its stored bytes by
    /// (deflate can reach about 1000x; weights rarely pass 2x).
    package static let maxExpansion = 256
    /// Decoded bytes a dataset may have beyond `stored × maxExpansion`: room for
    /// small never-written (fill-value) datasets and highly compressible tensors.
    package static let expansionAllowance = 64 << 20
    /// The most attributes one object may carry.
    package static let maxAttributes = 4_096

    /// Whether `decoded` bytes may come from `stored` bytes.
    package static func allowsExpansion(stored: Int, decoded: Int) -> Bool {
        let (scaled, overflow) = stored.multipliedReportingOverflow(by: maxExpansion)
        return decoded <= (overflow ? Int.max : max(scaled, expansionAllowance))
    }
}

extension HDF5Dataset {
    /// Refuses a dataset whose data is not inside this file: external raw
    /// storage, or a virtual dataset. Run right after opening, before any other
    /// call on the dataset (libhdf5 follows virtual mappings, even onto the
    /// dataset itself, on queries as simple as its storage size).
    func checkInsideFile() throws(HDF5Error) {
        let id = id, path = path
        let dcpl = HDF5PropertyList(handle: try HDF5Handle("H5Dget_create_plist", path) { H5Dget_create_plist(id) })
        let layout = try HDF5Library.call("H5Pget_layout", path) { H5Pget_layout(dcpl.id).rawValue }
        if layout == H5D_VIRTUAL.rawValue {
            throw .refused(.outsideFile, path, "a virtual dataset (its data maps onto other datasets, possibly in other files); Sheaf reads only data stored inside the file it was given")
        }
        let external = try HDF5Library.call("H5Pget_external_count", path) { H5Pget_external_count(dcpl.id) }
        if external != 0 {
            throw .refused(.outsideFile, path, "the dataset uses external storage (its bytes live in other files); Sheaf reads only data stored inside the file it was given")
        }
        guard layout == H5D_CONTIGUOUS.rawValue || layout == H5D_CHUNKED.rawValue || layout == H5D_COMPACT.rawValue else {
            throw .refused(.malformed, path, "unknown dataset layout \(layout)")
        }
    }

    /// Checks that reading the whole dataset stays within ``HDF5ReadLimits`` and
    /// returns its decoded size in bytes in the file's element size.
    /// - Complexity: O(rank); reads no data.
    package func checkReadable() throws(HDF5Error) -> Int {
        // Every HDF5Dataset comes from `openDataset` or `create`: the first has
        // already run checkInsideFile, the second wrote the data itself.
        let id = id, path = path
        guard let shape = try shape() else { return 0 }
        let elementSize = Int(try HDF5Library.call("H5Tget_size", path, failed: { $0 == 0 }) {
            let type = H5Dget_type(id)
            defer { if type >= 0 { H5Tclose(type) } }
            return type < 0 ? 0 : H5Tget_size(type)
        })
        var decoded = elementSize
        for dimension in shape {
            let (product, overflow) = decoded.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw .refused(.limit, path, "extent \(shape) of \(elementSize)-byte elements is too large to address")
            }
            decoded = product
        }
        let dcpl = HDF5PropertyList(handle: try HDF5Handle("H5Dget_create_plist", path) { H5Dget_create_plist(id) })
        let layout = try HDF5Library.call("H5Pget_layout", path) { H5Pget_layout(dcpl.id).rawValue }
        if layout == H5D_CHUNKED.rawValue {
            var chunk = [hsize_t](repeating: 0, count: max(shape.count, 1))
            let rank = try HDF5Library.call("H5Pget_chunk", path) { H5Pget_chunk(dcpl.id, Int32(chunk.count), &chunk) }
            guard Int(rank) == shape.count, chunk.prefix(shape.count).allSatisfy({ $0 > 0 }) else {
                throw .refused(.malformed, path, "chunk rank \(rank) does not match the extent's rank \(shape.count)")
            }
            var chunks = 1
            for (extent, size) in zip(shape, chunk) {
                let count = extent == 0 ? 0 : (extent - 1) / Int(clamping: size) + 1
                chunks = chunks.multipliedReportingOverflow(by: count).overflow ? Int.max : chunks * count
            }
            guard chunks <= HDF5ReadLimits.maxChunks else {
                throw .refused(.limit, path, "the dataset has \(chunks) chunks, over the limit of \(HDF5ReadLimits.maxChunks)")
            }
        }
        if layout != H5D_COMPACT.rawValue {
            let stored = Int(clamping: try HDF5Library.call("H5Dget_storage_size", path, failed: { _ in false }) {
                H5Dget_storage_size(id)
            })
            guard HDF5ReadLimits.allowsExpansion(stored: stored, decoded: decoded) else {
                throw .refused(.limit, path, "reading would expand \(stored) stored bytes to \(decoded) bytes, over the limit of \(HDF5ReadLimits.maxExpansion)x the stored bytes (or \(HDF5ReadLimits.expansionAllowance >> 20) MiB)")
            }
        }
        return decoded
    }
}

extension HDF5Group {
    /// Refuses a link other than a hard link (soft, external, user-defined):
    /// Sheaf follows only hard links, so a name can lead only to an object in
    /// this file, and only one way.
    func checkHardLink(_ name: String) throws(HDF5Error) {
        let id = id, object = "\(path)/\(name)"
        var link = H5L_info_t()
        try HDF5Library.call("H5Lget_info", object) { H5Lget_info(id, name, &link, chdf5_p_default()) }
        switch link.type {
        case H5L_TYPE_HARD: return
        case H5L_TYPE_SOFT:
            throw .refused(.outsideFile, object, "a soft link; Sheaf follows only hard links")
        case H5L_TYPE_EXTERNAL:
            throw .refused(.outsideFile, object, "an external link (it names an object in another file); Sheaf reads only the file it was given")
        default:
            throw .refused(.outsideFile, object, "a user-defined link; Sheaf follows only hard links")
        }
    }
}
