import ArgumentParser
import Foundation
import Sheaf
import SheafInterchange

extension SheafCommand {
    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert between Sheaf and PyTorch, NumPy, safetensors, HDF5 and raw tensor files.",
            discussion: """
            The input format is detected from the file's content (--from overrides); the output format \
            comes from the extension (.sheaf/.h5, .npy, .npz, .safetensors, .bin) or --to. Tensors are \
            converted one at a time and the output is written atomically: on any error nothing is left \
            under OUTPUT, and an existing OUTPUT is replaced only with --force.
            """)

        @Argument(help: "The file to read.") var input: String
        @Argument(help: "The file to write.") var output: String
        @Option(help: "Input format: \(InterchangeFormat.allCases.map(\.rawValue).joined(separator: ", ")).") var from: InterchangeFormat?
        @Option(help: "Output format: sheaf, npy, npz, safetensors, raw.") var to: InterchangeFormat?
        @Option(help: "Raw input: the shape, comma-separated (for example 2,3).") var shape: String?
        @Option(help: "Raw input: the dtype (for example float32).") var dtype: String?
        @Option(help: "Raw input: little or big.") var byteOrder: String?
        @Option(help: "Sheaf output: deflate[:LEVEL] (shuffle + zlib, level 1-9, default 4).") var compress: String?
        @Flag(help: "Store bfloat16/float8 as exact float32 where the target has no such dtype.") var widen = false
        @Flag(help: "Write tied keys as separate copies where the target cannot tie tensors.") var untie = false
        @Flag(help: "Replace OUTPUT if it exists (still atomically).") var force = false
        @Flag(help: "Print nothing but errors.") var quiet = false
        @OptionGroup var isolation: IsolationOptions

        func validate() throws {
            if from == .raw || shape != nil || dtype != nil || byteOrder != nil {
                guard shape != nil, dtype != nil else { throw ValidationError("raw input needs --shape and --dtype (and --byte-order, default little)") }
                _ = try rawLayout()
            }
            if let compress { _ = try compression(compress) }
            let target = to ?? InterchangeFormat.forExtension(of: output)
            guard target != nil else {
                throw ValidationError("cannot tell the output format from '\(output)'; use a known extension or --to")
            }
        }

        func rawLayout() throws -> Interchange.RawLayout {
            guard let shape, let dtype else { throw ValidationError("raw input needs --shape and --dtype") }
            let dims = shape.isEmpty ? [] : shape.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard dims.allSatisfy({ $0 != nil && $0! >= 0 }) else { throw ValidationError("--shape must be non-negative integers separated by commas, got '\(shape)'") }
            guard let type = DType(name: dtype) else {
                throw ValidationError("unknown --dtype '\(dtype)'; one of \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let order = byteOrder ?? "little"
            guard order == "little" || order == "big" else { throw ValidationError("--byte-order must be little or big, got '\(order)'") }
            return Interchange.RawLayout(dtype: type, shape: dims.map { $0! }, bigEndian: order == "big")
        }

        func compression(_ text: String) throws -> SaveOptions.Compression {
            let parts = text.split(separator: ":")
            guard parts.first == "deflate", parts.count <= 2 else { throw ValidationError("--compress must be deflate or deflate:LEVEL") }
            let level = parts.count == 2 ? Int(parts[1]) : 4
            guard let level, (1...9).contains(level) else { throw ValidationError("deflate level must be 1-9") }
            return .deflate(level: level)
        }

        func run() throws {
            let raw = from == .raw || shape != nil ? try rawLayout() : nil
            let file = try InputFile(input)
            if raw == nil { try isolation.preflight(file, format: from) }
            try file.reading { path in try convert(path, raw: raw) }
        }

        private func convert(_ path: String, raw: Interchange.RawLayout?) throws {
            let source = try Interchange.open(path: path, format: from ?? (raw != nil ? .raw : nil), raw: raw)
            let target = to ?? InterchangeFormat.forExtension(of: output) ?? .sheaf
            var options = ExportOptions()
            options.widen = widen
            options.untie = untie
            options.replace = force
            if let compress { options.save.compression = try compression(compress) }
            if !force && FileManager.default.fileExists(atPath: output) {
                throw SheafError(.io, file: output, "output exists; pass --force to replace it")
            }
            let progress = ProgressBar(enabled: !quiet)
            let report = try Exporter.export(source, to: output, as: target, options: options) { done, total in
                progress.update(done: done, total: total)
            }
            progress.finish()
            if !quiet {
                print("converted \(input) (\(source.format)) to \(output) (\(target)): \(report.tensors) tensors\(report.tied > 0 ? " (\(report.tied) tied)" : ""), \(formatBytes(report.bytes))")
                for note in report.notes { print("note: \(note)") }
            }
        }
    }
}

/// A progress bar on stderr, shown only when stderr is a terminal and the job
/// has run for more than a second.
final class ProgressBar {
    private let enabled: Bool
    private let start = Date()
    private var shown = false

    init(enabled: Bool) { self.enabled = enabled && isatty(2) == 1 }

    func update(done: Int, total: Int) {
        guard enabled, Date().timeIntervalSince(start) > 1, total > 0 else { return }
        let fraction = Double(done) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(Int(fraction * 100))% \(formatBytes(done)) / \(formatBytes(total))".utf8))
        shown = true
    }

    func finish() {
        if shown { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
