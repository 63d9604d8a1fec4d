extension FileDescriptor {
    /// The HDF5 format signature.
    package static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Whether the open file of `size` bytes has the HDF5 signature at offset 0,
    /// 512, 1024, … (where HDF5 looks for it), read without libhdf5 (which
    /// would lock the file).
    package func hasHDF5Signature(size: Int) -> Bool {
        var offset = 0
        var bytes = [UInt8](repeating: 0, count: 8)
        while offset + 8 <= size {
            let found = bytes.withUnsafeMutableBytes { try? read(fromAbsoluteOffset: offset, into: $0) }
            if found == 8 && bytes == Self.hdf5Signature { return true }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }
}
