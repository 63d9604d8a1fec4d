/// How tensors read from a file reach a GPU.
///
/// Reader threads each take one tensor at a time and read it, piece by piece,
/// into two pinned host buffers of their own, in turn: while the GPU's copy
/// engine copies one buffer into device memory, the reader fills the other and
/// checksums it while it is still in the processor's cache.
public struct DeviceLoadOptions: Sendable, Equatable {
    /// Reader threads; each pins two ``stagingBufferBytes`` buffers.
    /// The default is the number of cores, at most 16.
    public var readers: Int
    /// The size of each pinned buffer (rounded up to a multiple of 8 bytes).
    /// The default is 4 MiB.
    public var stagingBufferBytes: Int
    /// Check each tensor's bytes against the index's checksum as they pass
    /// (the default). Nothing reaches the caller from a tensor that fails.
    public var verifyChecksums: Bool

    public init(readers: Int? = nil, stagingBufferBytes: Int = 4 << 20, verifyChecksums: Bool = true) {
        self.readers = max(1, readers ?? min(16, ProcessorCount.value))
        self.stagingBufferBytes = max(8, (stagingBufferBytes + 7) / 8 * 8)
        self.verifyChecksums = verifyChecksums
    }
}
