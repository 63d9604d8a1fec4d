import Dispatch
import Sheaf
import Synchronization

/// Reads tensors at their index offsets into device memory through a
/// device's pinned staging buffers (``CUDAStaging``), with the copies of one
/// buffer overlapped with reading the next, and every tensor's checksum
/// computed over the bytes as they pass.
enum CUDALoader {
    /// One tensor: where its bytes are, and where they go.
    struct Job: Sendable {
        let source: SheafFile.DirectReader.Source
        /// The device address of the tensor's first element.
        let target: CUptr
        /// The kernel that widens 16-bit floats to float32, or nil to copy the bytes as they are.
        let widen: String?
    }

    /// The dtype a tensor of `dtype` takes on a GPU, when this path can carry
    /// it: float32 for float32, bfloat16 and float16 (widened on the device), bool as bool.
    static func target(for dtype: DType) -> DType? {
        switch dtype {
        case .float32, .bfloat16, .float16: .float32
        case .bool: .bool
        default: nil
        }
    }

    /// New arrays on `backend`'s device holding `sources`, in order.
    /// - Throws: ``SheafError`` for a read that fails or a checksum that does
    ///   not match (nothing is returned then), ``RuntimeError`` for CUDA failures.
    /// - Complexity: O(total bytes); reads run on `options.readers` threads.
    static func load(_ sources: [SheafFile.DirectReader.Source], reader: SheafFile.DirectReader,
                     backend: CUDABackend, options: DeviceLoadOptions) throws -> [NDArray] {
        var arrays: [NDArray] = []
        var jobs: [Job] = []
        for source in sources {
            guard let dtype = target(for: source.dtype) else {
                throw RuntimeError(.dtypeUnsupported, "\(source.dtype) arrays stay on the CPU; convert to float32 to use \(backend.device)")
            }
            let (array, address) = try backend.allocate(source.shape, dtype)
            arrays.append(array)
            let widen: String? = switch source.dtype {
            case .bfloat16: "widen_bf16_f32"
            case .float16: "widen_f16_f32"
            default: nil
            }
            jobs.append(Job(source: source, target: address, widen: widen))
        }
        if options.verifyChecksums {
            for job in jobs where job.source.byteCount == 0 {
                try reader.check(reader.algorithm.digest(UnsafeRawBufferPointer(start: nil, count: 0)), job.source)
            }
        }
        let work = pieces(jobs, slotBytes: options.stagingBufferBytes, verify: options.verifyChecksums)
        guard !work.isEmpty else { return arrays }
        // The pool keeps its shape from load to load (a new shape pins anew); a
        // load with fewer pieces than readers leaves some lanes idle.
        let lanes = min(options.readers, work.count)
        let cuda = backend.cuda, device = backend.index
        try cuda.withStaging(device: device, lanes: options.readers, slotBytes: options.stagingBufferBytes) { _, staging in
            let next = Atomic<Int>(0)
            let failure = Mutex<(any Error)?>(nil)
            let stopped = Atomic<Bool>(false)
            let pieces = work, all = jobs
            DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                do {
                    try run(lane: staging.lanes[lane], staging: staging, cuda: cuda, device: device, jobs: all, pieces: pieces,
                            next: next, stopped: stopped, reader: reader, verify: options.verifyChecksums)
                } catch {
                    stopped.store(true, ordering: .relaxed)
                    failure.withLock { if $0 == nil { $0 = error } }
                }
            }
            // Every copy out of the staging buffers is done before they or the arrays are used again.
            do throws(CUDAError) {
                try cuda.with(device: device) { _ throws(CUDAError) in
                    for lane in staging.lanes.prefix(lanes) { try cuda.check(cuda.cuStreamSynchronize(lane.stream), "cuStreamSynchronize") }
                }
            } catch { throw RuntimeError.cuda(error) }
            if let error = failure.withLock({ $0 }) { throw error }
        }
        return arrays
    }

    /// A unit of work for one reader: bytes `start..<start + count` of a job.
    /// A `whole` piece is a tensor checked by its one checksum, so one reader
    /// takes all of it, slot after slot, in order; any other piece fits one slot.
    struct Piece: Sendable {
        let job: Int
        let start: Int
        let count: Int
        let whole: Bool
    }

    /// The work, largest tensors first so no reader is left with one at the
    /// end. A tensor with block checksums (Spec §9.1) no larger than a slot is
    /// cut into slot-sized runs of whole blocks that any reader can take and
    /// verify alone, so one large tensor is read on every core; without them
    /// (or unverified) the same, and otherwise it is one `whole` piece.
    static func pieces(_ jobs: [Job], slotBytes: Int, verify: Bool) -> [Piece] {
        let order = jobs.indices.filter { jobs[$0].source.byteCount > 0 }.sorted { jobs[$0].source.byteCount > jobs[$1].source.byteCount }
        var whole: [Piece] = [], split: [Piece] = []
        for index in order {
            let source = jobs[index].source
            let step: Int
            if !verify {
                step = slotBytes
            } else if let block = source.blockSize, block > 0, block <= slotBytes, block % 8 == 0 {
                step = slotBytes / block * block
            } else {
                whole.append(Piece(job: index, start: 0, count: source.byteCount, whole: true))
                continue
            }
            for start in stride(from: 0, to: source.byteCount, by: step) {
                split.append(Piece(job: index, start: start, count: min(step, source.byteCount - start), whole: false))
            }
        }
        return whole + split
    }

    /// One reader: takes the next piece until none is left (or another reader
    /// failed), reading it into the lane's slots in turn.
    private static func run(lane: CUDAStaging.Lane, staging: CUDAStaging, cuda: CUDA, device: Int, jobs: [Job], pieces: [Piece],
                            next: borrowing Atomic<Int>, stopped: borrowing Atomic<Bool>,
                            reader: SheafFile.DirectReader, verify: Bool) throws {
        func cudaCall<R>(_ body: (CUDA.DeviceState) throws(CUDAError) -> R) throws -> R {
            do { return try cuda.with(device: device, body) } catch { throw RuntimeError.cuda(error) }
        }
        // Makes the device's context current on this thread, for the waits below.
        _ = try cudaCall { state throws(CUDAError) in state }
        var turn = 0
        /// Reads bytes `start..<start + count` of `job` into the next slot,
        /// lets `check` see them, and queues their copy (and widening).
        func stage(_ job: Job, _ start: Int, _ count: Int, _ check: (UnsafeRawBufferPointer) throws -> Void) throws {
            let slot = lane.slots[turn % lane.slots.count]
            turn += 1
            // The copy that last read this buffer has finished.
            do { try cuda.check(cuda.cuEventSynchronize(slot.event), "cuEventSynchronize") } catch { throw RuntimeError.cuda(error) }
            let bytes = UnsafeMutableRawBufferPointer(start: slot.host, count: count)
            try reader.read(job.source, from: start, into: bytes)
            // As a host read does: a bool byte other than 0 or 1 reads as 1, and
            // the checksum is of what is returned (so such a byte fails it).
            if job.source.dtype == .bool {
                for i in 0..<count where bytes[i] > 1 { bytes[i] = 1 }
            }
            try check(UnsafeRawBufferPointer(bytes))
            try cudaCall { state throws(CUDAError) in
                if let widen = job.widen {
                    try cuda.check(cuda.cuMemcpyHtoDAsync(slot.scratch, slot.host, count, lane.stream), "cuMemcpyHtoDAsync_v2")
                    try cuda.launch(state, widen, count: count / 2, [job.target + UInt64(start * 2), slot.scratch, UInt64(count / 2)] as [Any],
                                    stream: lane.stream)
                } else {
                    try cuda.check(cuda.cuMemcpyHtoDAsync(job.target + UInt64(start), slot.host, count, lane.stream), "cuMemcpyHtoDAsync_v2")
                }
                try cuda.check(cuda.cuEventRecord(slot.event, lane.stream), "cuEventRecord")
            }
        }
        while !stopped.load(ordering: .relaxed) {
            let taken = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard taken < pieces.count else { return }
            let piece = pieces[taken]
            let job = jobs[piece.job]
            guard piece.whole else {
                try stage(job, piece.start, piece.count) { bytes in
                    if verify { try reader.checkBlocks(bytes, of: job.source, at: piece.start) }
                }
                continue
            }
            var checksum = ChecksumStream(reader.algorithm)
            var start = 0
            while start < piece.count {
                if stopped.load(ordering: .relaxed) { return }
                let count = min(staging.slotBytes, piece.count - start)
                try stage(job, start, count) { bytes in checksum.update(bytes) }
                start += count
            }
            try reader.check(checksum.value, job.source)
        }
    }
}
