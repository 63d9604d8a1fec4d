import Dispatch
import Glibc
import Sheaf
import Synchronization

/// A diagnostic for `sheaf devices --benchmark-load`: how fast a file's
/// tensors reach a GPU through pinned staging buffers, against the two bounds
/// of that path (reading the bytes from the page cache, and copying from
/// pinned memory to the device) and against a host load followed by uploads.
package enum LoadBenchmark {
    package struct Row: Sendable {
        package let name: String
        /// Median milliseconds.
        package let milliseconds: Double
        /// Bytes moved each time.
        package let bytes: Int
        package var gigabytesPerSecond: Double { Double(bytes) / milliseconds / 1e6 }
    }

    /// Times each way of moving `path`'s tensors onto `device`, `runs` times
    /// each after one warm-up (the first row is the first load of the process,
    /// which pins the staging buffers). With `cold`, the only row is one load
    /// after the staging buffers are pinned and the kernel's page cache is
    /// dropped (root only): a load from the disk.
    package static func run(path: String, device: Device, runs: Int, cold: Bool = false) throws -> [Row] {
        let backend = try CUDABackend.require(device)
        let file = try SheafFile(path: path)
        let sources = try file.entries.indices.compactMap { try file.directSource(at: $0) }
        let bytes = sources.reduce(0) { $0 + $1.byteCount }
        let reader = file.directReader
        var rows: [Row] = []
        /// The median time of `body`; what it returns is freed after the clock stops
        /// (the peers' caching allocators make their frees nearly free).
        func median(_ name: String, bytes: Int = bytes, _ body: () throws -> Any) rethrows {
            _ = try body()
            var samples: [Double] = []
            for _ in 0..<max(1, runs) {
                let start = DispatchTime.now().uptimeNanoseconds
                let result = try body()
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                withExtendedLifetime(result) {}
            }
            rows.append(Row(name: name, milliseconds: samples.sorted()[samples.count / 2], bytes: bytes))
        }
        let defaults = DeviceLoadOptions()
        try NDArray.zeros([1], on: device).synchronize()  // the context, cuBLAS and kernels, before any timing
        if cold {
            try backend.cuda.withStaging(device: backend.index, lanes: defaults.readers, slotBytes: defaults.stagingBufferBytes) { _, _ in }
            try dropPageCache()
            let start = DispatchTime.now().uptimeNanoseconds
            let arrays = try file.arrays(on: device, options: defaults)
            defer { withExtendedLifetime(arrays) {} }
            return [Row(name: "from a cold page cache (buffers already pinned)",
                        milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, bytes: bytes)]
        }
        do {
            let start = DispatchTime.now().uptimeNanoseconds
            let arrays = try file.arrays(on: device, options: defaults)
            defer { withExtendedLifetime(arrays) {} }
            rows.append(Row(name: "first load (pins \(defaults.readers)x2x\(defaults.stagingBufferBytes >> 10) KiB)",
                            milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, bytes: bytes))
        }
        try median("arrays(on:) default (\(defaults.readers) readers, \(defaults.stagingBufferBytes >> 10) KiB), checksums verified") {
            try file.arrays(on: device, options: defaults)
        }
        try median("arrays(on:) default, no checksums") {
            try file.arrays(on: device, options: DeviceLoadOptions(verifyChecksums: false))
        }
        try median("device allocations alone (cuMemAlloc for every array)") {
            try sources.map { source in try backend.allocate(source.shape, CUDALoader.target(for: source.dtype) ?? source.dtype).0 }
        }
        for readers in [8, 16] {
            for slot in [1 << 20, 2 << 20, 4 << 20, 8 << 20] {
                let options = DeviceLoadOptions(readers: readers, stagingBufferBytes: slot)
                guard options != defaults else { continue }
                try median("arrays(on:) \(readers) readers, \(slot >> 10) KiB") { try file.arrays(on: device, options: options) }
            }
        }
        try median("stateDict() on the host, then each tensor uploaded") {
            let stateDict = try file.stateDict()
            let arrays = try stateDict.map { _, tensor in try NDArray(try FileArrays.widened(tensor), on: device) }
            try backend.synchronize()
            return arrays
        }
        for threads in [1, ProcessorCount.value] {
            try median("bound: page cache read + hash of every byte, \(threads) threads") { try readAll(sources, reader, threads: threads, hash: true) }
            try median("bound: page cache read only, \(threads) threads") { try readAll(sources, reader, threads: threads, hash: false) }
        }
        let size = max(min(bytes, 1 << 30), 1)
        try pinnedCopy(backend, size: size) { body in try median("bound: one pinned buffer to the device", bytes: size) { try body() } }
        try median("pinning \(defaults.readers)x2x\(defaults.stagingBufferBytes >> 10) KiB (a new staging pool)", bytes: 2 * defaults.readers * defaults.stagingBufferBytes) {
            // Another shape first, so the default one is made again.
            try backend.cuda.withStaging(device: backend.index, lanes: 1, slotBytes: 8) { _, _ in }
            return try backend.cuda.withStaging(device: backend.index, lanes: defaults.readers, slotBytes: defaults.stagingBufferBytes) { _, _ in 0 }
        }
        rows += try pinningRows(backend, bytes: 2 * defaults.readers * defaults.stagingBufferBytes, runs: max(3, runs))
        return rows
    }

    /// How long pinning `bytes` of host memory takes, three ways: one
    /// `cuMemHostAlloc`, and `cuMemHostRegister` over memory faulted in with
    /// 4 KiB pages and with transparent huge pages (what a pool could use).
    static func pinningRows(_ backend: CUDABackend, bytes: Int, runs: Int) throws -> [Row] {
        typealias Register = @convention(c) (UnsafeMutableRawPointer?, Int, UInt32) -> Int32
        typealias Unregister = @convention(c) (UnsafeMutableRawPointer?) -> Int32
        guard let driver = dlopen(backend.cuda.driverPath, RTLD_NOW | RTLD_NOLOAD),
              let registerSymbol = dlsym(driver, "cuMemHostRegister_v2"), let unregisterSymbol = dlsym(driver, "cuMemHostUnregister") else { return [] }
        // dlsym gives untyped addresses; these are the driver's C signatures (as LibraryHandle.symbol does).
        let register = unsafeBitCast(registerSymbol, to: Register.self), unregister = unsafeBitCast(unregisterSymbol, to: Unregister.self)
        let cuda = backend.cuda
        var rows: [Row] = []
        func time(_ name: String, _ body: () throws -> () -> Void) throws {
            var samples: [Double] = []
            for _ in 0..<runs {
                let start = DispatchTime.now().uptimeNanoseconds
                let release = try body()
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                release()
            }
            rows.append(Row(name: name, milliseconds: samples.sorted()[samples.count / 2], bytes: bytes))
        }
        try time("pinning \(bytes >> 20) MiB: one cuMemHostAlloc") {
            var host: UnsafeMutableRawPointer?
            try backend.run { _ throws(CUDAError) in try cuda.check(cuda.cuMemHostAlloc(&host, bytes, 0), "cuMemHostAlloc") }
            return { _ = try? backend.run { _ throws(CUDAError) in _ = cuda.cuMemFreeHost(host) } }
        }
        for huge in [false, true] {
            try time("pinning \(bytes >> 20) MiB: aligned allocation, \(huge ? "transparent huge pages" : "4 KiB pages") faulted in, cuMemHostRegister") {
                var raw: UnsafeMutableRawPointer?
                guard posix_memalign(&raw, 2 << 20, bytes) == 0, let memory = raw else { throw RuntimeError(.invalidArgument, "posix_memalign failed") }
                _ = madvise(memory, bytes, huge ? 14 : 15)  // MADV_HUGEPAGE : MADV_NOHUGEPAGE
                memset(memory, 0, bytes)
                try backend.run { _ throws(CUDAError) in try cuda.check(register(memory, bytes, 0), "cuMemHostRegister_v2") }
                return {
                    _ = try? backend.run { _ throws(CUDAError) in _ = unregister(memory) }
                    free(memory)
                }
            }
        }
        return rows
    }

    /// Reads every source's bytes in 2 MiB pieces, spread over `threads`
    /// threads, into plain memory; with `hash`, each 1 MiB is hashed too.
    static func readAll(_ sources: [SheafFile.DirectReader.Source], _ reader: SheafFile.DirectReader, threads: Int, hash: Bool) throws {
        let piece = 2 << 20
        let pieces = sources.indices.flatMap { index in stride(from: 0, to: sources[index].byteCount, by: piece).map { (index, $0) } }
        let failed = Atomic<Bool>(false)
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: piece, alignment: 64)
            defer { buffer.deallocate() }
            while true {
                let taken = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard taken < pieces.count else { return }
                let (index, start) = pieces[taken]
                let part = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(piece, sources[index].byteCount - start)])
                do { try reader.read(sources[index], from: start, into: part) } catch { failed.store(true, ordering: .relaxed); return }
                if hash {
                    for block in stride(from: 0, to: part.count, by: 1 << 20) {
                        _ = reader.algorithm.digest(UnsafeRawBufferPointer(rebasing: part[block..<min(part.count, block + (1 << 20))]))
                    }
                }
            }
        }
        if failed.load(ordering: .relaxed) { throw RuntimeError(.invalidArgument, "\(reader.path): a read for the bound failed") }
    }

    /// Writes every dirty page and drops the kernel's page cache, so the next
    /// reads come from the disk.
    static func dropPageCache() throws {
        sync()
        let descriptor = open("/proc/sys/vm/drop_caches", O_WRONLY)
        guard descriptor >= 0 else { throw RuntimeError(.invalidArgument, "dropping the page cache needs root (/proc/sys/vm/drop_caches)") }
        defer { close(descriptor) }
        guard write(descriptor, "3\n", 2) == 2 else { throw RuntimeError(.invalidArgument, "writing /proc/sys/vm/drop_caches failed") }
    }

    /// Gives `measure` a body that copies `size` bytes from one pinned buffer to the device and waits.
    static func pinnedCopy(_ backend: CUDABackend, size: Int, _ measure: (() throws -> Void) throws -> Void) throws {
        let cuda = backend.cuda
        let (array, target) = try backend.allocate([size], .uint8)
        var host: UnsafeMutableRawPointer?
        try backend.run { _ throws(CUDAError) in try cuda.check(cuda.cuMemHostAlloc(&host, size, 0), "cuMemHostAlloc (\(size) bytes)") }
        defer { _ = try? backend.run { _ throws(CUDAError) in _ = cuda.cuMemFreeHost(host) } }
        if let host { memset(host, 1, size) }
        try measure {
            try backend.run { state throws(CUDAError) in
                try cuda.check(cuda.cuMemcpyHtoDAsync(target, host, size, state.stream), "cuMemcpyHtoDAsync_v2")
                try cuda.check(cuda.cuStreamSynchronize(state.stream), "cuStreamSynchronize")
            }
        }
        withExtendedLifetime(array) {}
    }
}
