import ArgumentParser
import Dispatch
import Foundation
import Sheaf
import SheafRuntime

extension SheafCommand {
    struct Devices: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the compute devices; with --check, run every GPU operation and compare it with the CPU.")

        @Flag(help: "Compare each operation on every GPU with the CPU result.") var check = false
        @Flag(help: "Time the runtime's GEMM against cuBLAS SGEMM alone, and the seed MLP forward, on every GPU.") var benchmark = false
        @Option(name: .customLong("benchmark-load"), help: ArgumentHelp("Time loading this Sheaf file's tensors onto cuda:0 through pinned staging buffers, against the page-cache and PCIe bounds.", valueName: "file"))
        var benchmarkLoad: String?
        @Option(help: "Timed runs per row of --benchmark-load (the median is printed).") var runs = 5
        @Flag(help: "With --benchmark-load: time one load after dropping the page cache (needs root), and nothing else.") var cold = false

        func run() throws {
            let gpus = Device.gpuCount
            print("cpu: \(ProcessInfo.processInfo.activeProcessorCount) cores (OpenBLAS)")
            if gpus == 0 { print("no GPU: \(Device.gpuUnavailableReason ?? "none found")") }
            for index in 0..<gpus { print("cuda:\(index)") }
            if benchmark { try DeviceBenchmark.run(gpus: gpus) }
            if let benchmarkLoad {
                guard gpus > 0 else { throw CommandFailure(message: "--benchmark-load needs a GPU: \(Device.gpuUnavailableReason ?? "none found")") }
                for row in try LoadBenchmark.run(path: benchmarkLoad, device: .cuda(0), runs: max(1, runs), cold: cold) {
                    print(String(format: "load %@: %.2f ms, %.2f GB/s", row.name, row.milliseconds, row.gigabytesPerSecond))
                }
            }
            guard check, gpus > 0 else { return }
            var failures = 0
            for index in 0..<gpus {
                let device = Device.cuda(index)
                for (name, difference) in try DeviceSelfTest.run(on: device) {
                    let ok = difference <= 1e-5
                    if !ok { failures += 1 }
                    print("\(device) \(name): max |difference| / max |cpu| = \(difference) \(ok ? "OK" : "FAIL")")
                }
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sheaf-devices-\(getpid())").path
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: directory) }
                for (name, ok) in try DeviceSelfTest.loadChecks(on: device, directory: directory) {
                    if !ok { failures += 1 }
                    print("\(device) \(name): \(ok ? "OK" : "FAIL")")
                }
            }
            if failures > 0 { throw CommandFailure(message: "\(failures) GPU operations differ from the CPU") }
        }
    }
}

enum DeviceBenchmark {
    /// Medians of repeated timings; GPU work is synchronised once per call.
    static func run(gpus: Int) throws {
        func median(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
            try body()
            var samples: [Double] = []
            for _ in 0..<runs {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            return samples.sorted()[runs / 2]
        }
        for index in 0..<gpus {
            let device = Device.cuda(index)
            let n = 8192
            let x = try NDArray.randn([n, n], on: device), w = try NDArray.randn([n, n], on: device)
            let ours = try median(9) { try x.matmul(w).synchronize() }
            let reference = try NDArray.referenceSGEMMMilliseconds(m: n, n: n, k: n, count: 9, on: device)
            let flops = 2 * Double(n) * Double(n) * Double(n)
            print(String(format: "\(device) GEMM %dx%d: runtime %.2f ms (%.1f TFLOP/s), cuBLAS SGEMM alone %.2f ms (%.1f TFLOP/s): %.0f%%",
                         n, n, ours, flops / ours / 1e9, reference, flops / reference / 1e9, 100 * reference / ours))
            let linear = try median(9) { try NDArray.linear(x, weight: w, bias: try NDArray.zeros([n], on: device)).synchronize() }
            print(String(format: "\(device) Linear(%d, %d) at batch %d: %.2f ms (%.0f%% of SGEMM alone)", n, n, n, linear, 100 * reference / linear))
            let mlp = SeedMLP()
            try mlp.to(device)
            let input = try NDArray.randn([1, 20], on: device)
            let forward = try median(101) { _ = try mlp(input).tensor() }
            print(String(format: "\(device) seed MLP batch 1 forward + copy back (one sync): %.3f ms", forward))
            let cpu = SeedMLP()
            let cpuInput = NDArray.randn([1, 20])
            let cpuForward = try median(101) { _ = try cpu(cpuInput).tensor() }
            print(String(format: "cpu seed MLP batch 1 forward: %.4f ms", cpuForward))
        }
    }
}

