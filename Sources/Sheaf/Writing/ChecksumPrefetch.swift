import Dispatch

/// The checksums (and block checksums, §9.1) of a save's in-memory tensors,
/// computed on other cores while the writer hands the same bytes to libhdf5:
/// the index, written last, is the first thing that needs them.
///
/// `@unchecked Sendable`: each worker writes only its own slots of `results`
/// (index ≡ worker mod workers), the tensors' bytes are only read on every
/// thread, and ``wait()`` returns the slots only after every worker finished
/// (the dispatch group's wait orders those writes before the reads).
final class ChecksumPrefetch: @unchecked Sendable {
    typealias Digest = (whole: UInt64, blocks: [UInt64]?)

    private let results: UnsafeMutableBufferPointer<Digest?>
    private let group = DispatchGroup()

    /// Starts hashing every non-nil tensor of `tensors` in the background.
    init(_ tensors: [Tensor?], algorithm: ChecksumAlgorithm, blockSize: Int?) {
        results = .allocate(capacity: max(tensors.count, 1))
        results.initialize(repeating: nil)
        // One core stays with the writer (libhdf5 and the kernel's copy); at least one hashes.
        let workers = max(1, min(ProcessInfoWorkers.count - 1, tensors.count))
        let slots = results
        for worker in 0..<workers {
            let box = UncheckedBox((tensors, slots))
            DispatchQueue.global(qos: .userInitiated).async(group: group) {
                let (tensors, slots) = box.value
                var index = worker
                while index < tensors.count {
                    if let tensor = tensors[index] { slots[index] = Self.digest(tensor, algorithm, blockSize) }
                    index += workers
                }
            }
        }
    }

    deinit {
        group.wait()
        results.deallocate()
    }

    /// The whole checksum and, for tensors larger than `blockSize`, the block checksums.
    static func digest(_ tensor: Tensor, _ algorithm: ChecksumAlgorithm, _ blockSize: Int?) -> Digest {
        if let size = blockSize, tensor.byteCount > size {
            let (whole, blocks) = tensor.withUnsafeBytes { algorithm.digest($0, blockSize: size) }
            return (whole, blocks)
        }
        return (tensor.withUnsafeBytes { algorithm.digest($0) }, nil)
    }

    /// Every digest, by position (nil where no tensor was given), once all are computed.
    func wait() -> [Digest?] {
        group.wait()
        return Array(results)
    }
}
