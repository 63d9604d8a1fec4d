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
