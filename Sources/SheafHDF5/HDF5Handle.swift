import CHDF5

/// Owns one HDF5 identifier and releases it exactly once.
///
/// Every wrapper type holds one of these; the identifier is closed when the owner
/// is consumed with `close()` (which reports failures) or goes out of scope.
package struct HDF5Handle: ~Copyable {
    /// The raw identifier: internal, so no module outside this one can pass it
    /// to libhdf5 around the funnel.
    private(set) var rawValue: hid_t
    /// What the identifier names, for error messages.
    package let object: String

    package init(_ operation: String, _ object: String, _ open: () -> hid_t) throws(HDF5Error) {
        self.rawValue = try HDF5Library.call(operation, object, open)
        self.object = object
    }

    package consuming func close() throws(HDF5Error) {
        let id = rawValue
        rawValue = -1
        try HDF5Library.call("H5Idec_ref", object) { H5Idec_ref(id) }
    }

    deinit {
        let id = rawValue
        guard id >= 0 else { return }
        _ = try? HDF5Library.call("H5Idec_ref", object) { H5Idec_ref(id) }
    }
}
