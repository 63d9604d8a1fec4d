import CHDF5

/// An open HDF5 file. Closing it (explicitly or at end of scope) closes every
/// object still open in it (`H5F_CLOSE_STRONG`).
package struct HDF5File: ~Copyable {
    package let handle: HDF5Handle
    var id: hid_t { handle.rawValue }
    package var path: String { handle.object }

    /// Creates (truncating) a file whose allocations of at least `alignment`
    /// bytes' threshold start at multiples of `alignment`, with object
    /// modification times off so the bytes depend only on the content.
    package static func create(path: String, alignment: Int) throws(HDF5Error) -> HDF5File {
        let fapl = try fileAccess(path)
        try HDF5Library.call("H5Pset_alignment", path) { H5Pset_alignment(fapl.id, 1, hsize_t(alignment)) }
        // Raw data of small datasets would otherwise be packed into shared blocks,
        // ignoring the alignment.
        try HDF5Library.call("H5Pset_small_data_block_size", path) { H5Pset_small_data_block_size(fapl.id, 0) }
        let fcpl = try HDF5PropertyList(chdf5_p_file_create(), path)
        try HDF5Library.call("H5Pset_obj_track_times", path) { H5Pset_obj_track_times(fcpl.id, false) }
        let handle = try HDF5Handle("H5Fcreate", path) {
            H5Fcreate(path, chdf5_f_acc_excl(), fcpl.id, fapl.id)
        }
        return HDF5File(handle: handle)
    }

    /// Opens an existing file read-only.
    package static func open(path: String) throws(HDF5Error) -> HDF5File {
        let fapl = try fileAccess(path)
        let handle = try HDF5Handle("H5Fopen", path) { H5Fopen(path, chdf5_f_acc_rdonly(), fapl.id) }
        return HDF5File(handle: handle)
    }

    init(handle: consuming HDF5Handle) { self.handle = handle }

    /// File access: close every object with the file, and no `flock`. HDF5's
    /// descriptors are not close-on-exec, so a child process started meanwhile
    /// (by this program or a test runner) would inherit a writer's exclusive lock
    /// and make readers fail; Sheaf writes only to fresh temporary files and
    /// publishes them by rename, so the lock protects nothing.
    static func fileAccess(_ path: String) throws(HDF5Error) -> HDF5PropertyList {
        let fapl = try HDF5PropertyList(chdf5_p_file_access(), path)
        try HDF5Library.call("H5Pset_fclose_degree", path) { H5Pset_fclose_degree(fapl.id, H5F_CLOSE_STRONG) }
        try HDF5Library.call("H5Pset_file_locking", path) { H5Pset_file_locking(fapl.id, false, true) }
        return fapl
    }

    /// The root group, `/`.
    package func root() throws(HDF5Error) -> HDF5Group {
        let id = id
        return HDF5Group(handle: try HDF5Handle("H5Gopen2", "\(path):/") { H5Gopen2(id, "/", chdf5_p_default()) })
    }

    package func flush() throws(HDF5Error) {
        let id = id
        try HDF5Library.call("H5Fflush", path) { H5Fflush(id, H5F_SCOPE_LOCAL) }
    }

    package consuming func close() throws(HDF5Error) { try handle.close() }
}
