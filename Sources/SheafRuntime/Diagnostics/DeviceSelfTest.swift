import Glibc
import Sheaf

/// A diagnostic for `sheaf devices --check`: runs each operation on the CPU and on a GPU and reports the largest relative difference.
package enum DeviceSelfTest {
    /// Each operation's largest difference from the CPU, relative to the result's scale.
    package static func run(on device: Device) throws -> [(String, Double)] {
        RandomSource.manualSeed(42)
        let a = NDArray.randn([33, 70]), b = NDArray.randn([70, 45])
        let row = NDArray.randn([70]), column = NDArray.randn([33, 1]), scalar = NDArray.randn([])
        let weight = NDArray.randn([50, 70]), bias = NDArray.randn([50])
        func compare(_ name: String, _ op: (NDArray, NDArray, NDArray, NDArray) throws -> NDArray) throws -> (String, Double) {
            let cpu = try op(a, b, row, column).tensor().converted(to: .float64).scalars(as: Double.self)
            let gpuResult = try op(a.to(device), b.to(device), row.to(device), column.to(device))
            guard gpuResult.device == device else { throw RuntimeError(.deviceMismatch, "\(name) left \(device)") }
            let gpu = try gpuResult.tensor().converted(to: .float64).scalars(as: Double.self)
            // Relative to the result's scale: elementwise ratios blow up where sums cancel.
            let scale = max(cpu.map(abs).max() ?? 0, 1e-6)
            var worst = 0.0
            for (x, y) in zip(cpu, gpu) { worst = max(worst, abs(x - y) / scale) }
            return (name, cpu.count == gpu.count ? worst : .infinity)
        }
        return [
            try compare("add (same shape)") { a, _, _, _ in try a + a },
            try compare("sub (row broadcast)") { a, _, r, _ in try a - r },
            try compare("mul (column broadcast)") { a, _, _, c in try a * c },
            try compare("div (scalar)") { a, _, _, _ in try a / 3 },
            try compare("add (0-d)") { a, _, _, _ in try a + (scalar.to(a.device)) },
            try compare("relu") { a, _, _, _ in try a.relu() },
            try compare("matmul") { a, b, _, _ in try a.matmul(b) },
            try compare("linear") { a, _, _, _ in try NDArray.linear(a, weight: weight.to(a.device), bias: bias.to(a.device)) },
            try compare("mean") { a, _, _, _ in try a.mean() },
            try compare("sum axis 0") { a, _, _, _ in try a.sum(axis: 0) },
            try compare("mean axis 1") { a, _, _, _ in try a.mean(axis: 1) },
            try compare("equal") { a, _, _, _ in try NDArray(try (a .== a).tensor().converted(to: .float32), on: a.device) },
        ]
    }
}

extension DeviceSelfTest {
    /// Loads a file of every dtype and placement the GPU load handles onto
    /// `device` and compares each array with the CPU's, bit for bit; then
    /// damages one byte of a staged tensor and expects the checksum error.
    /// Writes its file under `directory`. Each result names a check and says
    /// whether it passed.
    package static func loadChecks(on device: Device, directory: String) throws -> [(String, Bool)] {
        RandomSource.manualSeed(7)
        func random(_ shape: [Int], _ dtype: DType) throws -> Tensor { try NDArray.randn(shape).tensor().converted(to: dtype) }
        let embedding = try random([1000, 257], .float32)
        let pairs: [(String, Tensor)] = [
            ("f32.large", try random([1536, 1024], .float32)),      // 6 MiB: many staging slots
            ("bf16.weight", try random([1023, 515], .bfloat16)),    // odd sizes, widened on the device
            ("f16.weight", try random([700, 333], .float16)),
            ("f64.weight", try random([300, 200], .float64)),       // narrowed on the host
            ("mask", try Tensor(shape: [600, 500], scalars: (0..<300_000).map { $0 % 3 == 0 })),
            ("embedding", embedding),
            ("lm_head", embedding),                                // tied to "embedding"
            ("small.bias", try random([7], .float32)),             // packed
            ("empty", try random([0, 4], .float32)),
        ]
        var results: [(String, Bool)] = []
        // Whole-tensor checksums only (one reader per tensor), and 16 KiB
        // blocks (a tensor cut into pieces any reader takes).
        for blockSize in [nil, 16 << 10] as [Int?] {
            let blocks = blockSize.map { "\($0 >> 10) KiB blocks" } ?? "no blocks"
            let path = directory + "/sheaf-load-check-\(blockSize ?? 0).sheaf"
            try StateDict(pairs).save(to: path, options: SaveOptions(blockSize: blockSize))
            for slot in [64 << 10, 8 << 20] {
                for readers in [1, 3] {
                    let options = DeviceLoadOptions(readers: readers, stagingBufferBytes: slot)
                    let file = try SheafFile(path: path)
                    let cpu = try file.arrays(on: .cpu, options: options)
                    let gpu = try file.arrays(on: device, options: options)
                    let setting = "\(blocks), \(readers) readers, \(slot >> 10) KiB slots"
                    for (key, _) in pairs {
                        guard let x = cpu[key], let y = gpu[key] else { results.append(("\(key) missing (\(setting))", false)); continue }
                        let same = try y.device == device && x.dtype == y.dtype && x.tensor().bitwiseEqual(y.tensor())
                        results.append(("load \(key) (\(setting))", same))
                    }
                    results.append(("tied keys give one array (\(setting))", gpu["embedding"] === gpu["lm_head"]))
                }
            }
            // One flipped byte in the middle of a staged tensor.
            try damage(path, key: "bf16.weight", at: 500_000)
            do {
                _ = try SheafFile(path: path).arrays(on: device, options: DeviceLoadOptions(readers: 2, stagingBufferBytes: 64 << 10))
                results.append(("damaged tensor refused (\(blocks))", false))
            } catch let error as SheafError {
                results.append(("damaged tensor refused (\(blocks): \(error.code), key \(error.key ?? "none"))",
                                error.code == .checksumMismatch && error.key == "bf16.weight"))
            }
        }
        return results
    }

    /// Flips one bit of byte `position` of `key`'s data in the file at `path`, in place.
    package static func damage(_ path: String, key: String, at position: Int) throws {
        guard let offset = try SheafFile(path: path).entry(key).offset else {
            throw RuntimeError(.invalidArgument, "\(path): \(key) has no index offset to damage")
        }
        let descriptor = open(path, O_RDWR)
        guard descriptor >= 0 else { throw RuntimeError(.invalidArgument, "\(path): cannot open for writing") }
        defer { close(descriptor) }
        var byte: UInt8 = 0
        guard pread(descriptor, &byte, 1, off_t(offset + position)) == 1 else { throw RuntimeError(.invalidArgument, "\(path): cannot read byte \(position) of \(key)") }
        byte ^= 0x40
        guard pwrite(descriptor, &byte, 1, off_t(offset + position)) == 1 else { throw RuntimeError(.invalidArgument, "\(path): cannot write byte \(position) of \(key)") }
    }
}
