/// Where an ``NDArray`` lives and its operations run: the CPU (all cores,
/// OpenBLAS) or one NVIDIA GPU.
public enum Device: Sendable, Hashable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    /// `cpu` or `cuda:N`, as PyTorch prints devices.
    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .cuda(let index): "cuda:\(index)"
        }
    }

    /// Parses `cpu`, `cuda`, `cuda:N`.
    public init?(_ text: String) {
        if text == "cpu" { self = .cpu; return }
        if text == "cuda" { self = .cuda(0); return }
        guard text.hasPrefix("cuda:"), let index = Int(text.dropFirst(5)), index >= 0 else { return nil }
        self = .cuda(index)
    }

    /// The number of usable NVIDIA GPUs: 0 when the driver or libraries are missing.
    public static var gpuCount: Int { CUDA.shared.map { $0.deviceCount } ?? 0 }

    /// GPU `i` if it exists, else the CPU (the seed's `try_gpu`).
    public static func tryGPU(_ i: Int = 0) -> Device { gpuCount >= i + 1 ? .cuda(i) : .cpu }

    /// Every GPU, or `[.cpu]` when there is none (the seed's `try_all_gpus`).
    public static func tryAllGPUs() -> [Device] {
        let count = gpuCount
        return count > 0 ? (0..<count).map { .cuda($0) } : [.cpu]
    }

    /// Why there is no GPU, when there is none (the loader's error), for messages.
    public static var gpuUnavailableReason: String? {
        switch CUDA.load() {
        case .success(let cuda): cuda.deviceCount == 0 ? "the CUDA driver reports no devices" : nil
        case .failure(let error): error.description
        }
    }
}
