import Synchronization

/// Pinned (page-locked) host buffers through which file bytes reach one GPU:
/// the DMA engine copies from them without the driver's own staging copy, and
/// while it does, the next bytes are read into another buffer.
///
/// Made on a device's first load and kept for later loads, like the device's
/// stream and cuBLAS handle: pinning memory costs far more than a plain
/// allocation. One load uses it at a time (``CUDA/withStaging(device:lanes:slotBytes:_:)``);
/// it frees everything it made when it goes.
final class CUDAStaging: @unchecked Sendable {  // raw pointers and driver handles, used by one load at a time under the pool's lock
    /// One reader's share: its own stream, and buffers it alternates between.
    struct Lane {
        let stream: CUhandle
        var slots: [Slot]
    }

    /// One pinned buffer, the event recorded after the last work that reads
    /// it, and device scratch memory of the same size for bytes that are
    /// widened on the device.
    struct Slot {
        let host: UnsafeMutableRawPointer
        var event: CUhandle = nil
        var scratch: CUptr = 0
    }

    let cuda: CUDA
    let device: Int
    private(set) var lanes: [Lane] = []
    /// The size of each slot, a multiple of 8 so no element straddles two.
    let slotBytes: Int

    /// Pins `lanes × slotsPerLane × slotBytes` bytes of host memory for device
    /// `device`. Call with the CUDA lock held and the device's context current;
    /// what was made before a failure is freed.
    ///
    /// Pinning is the slow part (on an H200 host, 128 MiB took 77-97 ms, the
    /// same whether pinned on one thread or on one thread per buffer at once).
    init(cuda: CUDA, device: Int, lanes count: Int, slotsPerLane: Int, slotBytes: Int) throws(CUDAError) {
        self.cuda = cuda
        self.device = device
        self.slotBytes = slotBytes
        do throws(CUDAError) {
            for _ in 0..<count {
                var stream: CUhandle = nil
                try cuda.check(cuda.cuStreamCreate(&stream, 1), "cuStreamCreate")  // CU_STREAM_NON_BLOCKING
                lanes.append(Lane(stream: stream, slots: []))
                for slot in 0..<slotsPerLane {
                    var host: UnsafeMutableRawPointer?
                    try cuda.check(cuda.cuMemHostAlloc(&host, slotBytes, 0), "cuMemHostAlloc (\(slotBytes) bytes)")
                    guard let host else { throw CUDAError(operation: "cuMemHostAlloc", code: 0, message: "returned no memory") }
                    // Owned by the lane from here on, so a failure below frees it with the rest.
                    let lane = lanes.count - 1
                    lanes[lane].slots.append(Slot(host: host))
                    try cuda.check(cuda.cuEventCreate(&lanes[lane].slots[slot].event, 2), "cuEventCreate")  // CU_EVENT_DISABLE_TIMING
                    try cuda.check(cuda.cuMemAlloc(&lanes[lane].slots[slot].scratch, slotBytes), "cuMemAlloc_v2 (\(slotBytes) bytes)")
                }
            }
        } catch {
            release()
            throw error
        }
    }

    /// Waits for every lane, then frees the slots and streams. Call with the
    /// CUDA lock held and the device's context current.
    private func release() {
        for lane in lanes {
            _ = cuda.cuStreamSynchronize(lane.stream)
            for slot in lane.slots {
                _ = cuda.cuMemFreeHost(slot.host)
                if slot.event != nil { _ = cuda.cuEventDestroy(slot.event) }
                if slot.scratch != 0 { _ = cuda.cuMemFree(slot.scratch) }
            }
            _ = cuda.cuStreamDestroy(lane.stream)
        }
        lanes = []
    }

    deinit {
        guard !lanes.isEmpty else { return }
        _ = try? cuda.with(device: device) { _ throws(CUDAError) in release() }
    }
}

extension CUDA {
    /// Runs `body` with device `index`'s staging pool of `lanes` lanes of two
    /// `slotBytes` slots. The pool is made on first use and replaced (the old
    /// one freed) when a load asks for another shape. Loads onto GPUs run one
    /// at a time in a process: the pools share one lock, held for the whole load.
    func withStaging<R>(device index: Int, lanes: Int, slotBytes: Int,
                        _ body: (DeviceState, CUDAStaging) throws -> R) throws -> R {
        try stagingPools.withLock { pools in
            do {
                if let pool = pools[index], pool.lanes.count != lanes || pool.slotBytes != slotBytes {
                    pools[index] = nil  // its deinit takes the CUDA lock, so not inside `with`
                }
                let staging: CUDAStaging
                if let pool = pools[index] {
                    staging = pool
                } else {
                    staging = try with(device: index) { _ throws(CUDAError) in
                        try CUDAStaging(cuda: self, device: index, lanes: lanes, slotsPerLane: 2, slotBytes: slotBytes)
                    }
                    pools[index] = staging
                }
                let state = try with(device: index) { state throws(CUDAError) in state }
                return try body(state, staging)
            } catch let error as CUDAError { throw RuntimeError.cuda(error) }
        }
    }
}
