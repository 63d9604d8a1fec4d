import ArgumentParser
import Sheaf
import SheafInterchange
import SheafModels
import SheafRuntime

// Values the command line parses, each validated once by argument-parser,
// with its choices listed in `--help`.

extension InterchangeFormat: ExpressibleByArgument {}

extension DType: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

/// The byte order of a raw input.
enum ByteOrder: String, ExpressibleByArgument, CaseIterable {
    case little, big
}

/// A shape: non-negative integers separated by commas (`2,3`; empty for a 0-d tensor).
struct ShapeArgument: ExpressibleByArgument {
    let dimensions: [Int]

    init?(argument: String) {
        if argument.isEmpty { dimensions = []; return }
        var dimensions: [Int] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Int(part.trimmingCharacters(in: .whitespaces)), value >= 0 else { return nil }
            dimensions.append(value)
        }
        self.dimensions = dimensions
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// Sheaf output compression: `deflate` or `deflate:LEVEL` (1-9).
struct CompressionArgument: ExpressibleByArgument {
    let compression: SaveOptions.Compression

    init?(argument: String) {
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.first == "deflate", parts.count <= 2 else { return nil }
        guard let level = parts.count == 2 ? Int(parts[1]) : 4, (1...9).contains(level) else { return nil }
        compression = .deflate(level: level)
    }

    static var allValueStrings: [String] { ["deflate", "deflate:1", "…", "deflate:9"] }
}

/// Where `sheaf run` computes: `auto` (the first GPU, else the CPU), `cpu` or `cuda:N`.
struct DeviceArgument: ExpressibleByArgument {
    /// nil for `auto`.
    let device: Device?

    init?(argument: String) {
        if argument == "auto" { device = nil; return }
        guard let device = Device(argument) else { return nil }
        self.device = device
    }

    var resolved: Device { device ?? Device.tryGPU() }
    static var allValueStrings: [String] { ["auto", "cpu", "cuda:N"] }
}

extension Architecture: ExpressibleByArgument {
    init?(argument: String) {
        if argument == "seed-mlp" { self = .seedMLP; return }
        if let depth = ResNet.Depth(rawValue: argument) { self = .resnet(depth); return }
        guard argument.hasPrefix("mlp:") else { return nil }
        var sizes: [Int] = []
        for part in argument.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false) {
            guard let size = Int(part), size > 0 else { return nil }
            sizes.append(size)
        }
        guard sizes.count >= 2 else { return nil }
        self = .mlp(sizes)
    }

    static var allValueStrings: [String] { ["seed-mlp", "mlp:IN,HIDDEN,...,OUT"] + ResNet.Depth.allCases.map(\.rawValue) }
}

/// A size in bytes: a number with an optional unit, as Hugging Face writes
/// them (`5GB` = 5·10⁹, `500MB`, `10KB`; `GiB`, `MiB`, `KiB` are powers of 1024).
struct ByteSize: ExpressibleByArgument {
    let bytes: Int

    static let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
                                         ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1)]

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces)
        let (unit, scale) = Self.units.first { text.hasSuffix($0.0) } ?? ("", 1)
        guard let number = Int(text.dropLast(unit.count).trimmingCharacters(in: .whitespaces)), number > 0 else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: scale)
        guard !overflow else { return nil }
        self.bytes = bytes
    }

    static var allValueStrings: [String] { ["5GB", "500MB", "2GiB", "1000000"] }
}
