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
        @Option(help: "Raw input: the shape, comma-separated (for example 2,3).") var shape: ShapeArgument?
        @Option(help: "Raw input: the dtype.") var dtype: DType?
        @Option(help: "Raw input: the byte order (default little).") var byteOrder: ByteOrder?
        @Option(help: "Sheaf output: deflate[:LEVEL] (shuffle + zlib, level 1-9, default 4).") var compress: CompressionArgument?
        @Option(help: "Write shards of at most this size (for example 5GB): Sheaf output as a sharded set (OUTPUT.index.json and OUTPUT-0000k-of-0000N.sheaf), safetensors output as a Hugging Face model folder (OUTPUT is a folder, with model.safetensors.index.json and config.json).")
        var shardSize: ByteSize?
        @Option(help: "Sheaf output: pack tensors smaller than this (default 64KiB) back to back into one arena per dtype (Spec/FORMAT.md §18, format 1.4).")
        var packBelow: ByteSize?
        @Flag(help: "Sheaf output: give every tensor its own dataset (no packing), for Sheaf readers older than format 1.4.")
        var noPack = false
        @Flag(help: "Store bfloat16/float8 as exact float32 where the target has no such dtype.") var widen = false
        @Flag(help: "Write tied keys as separate copies where the target cannot tie tensors.") var untie = false
        @Flag(help: "Replace OUTPUT if it exists (still atomically).") var force = false
        @Flag(help: "Print nothing but errors.") var quiet = false
        @OptionGroup var isolation: IsolationOptions

        func validate() throws {
            if from == .raw || shape != nil || dtype != nil || byteOrder != nil {
                guard shape != nil, dtype != nil else { throw ValidationError("raw input needs --shape and --dtype (and --byte-order, default little)") }
            }
            guard let target = to ?? InterchangeFormat.forExtension(of: output) ?? (shardSize != nil ? .safetensors : nil) else {
                throw ValidationError("cannot tell the output format from '\(output)'; use a known extension or --to")
            }
            if noPack && packBelow != nil {
                throw ValidationError("--no-pack and --pack-below contradict each other; give one")
            }
            if (noPack || packBelow != nil) && target != .sheaf {
                throw ValidationError("--no-pack and --pack-below apply to Sheaf output, not --to \(target)")
            }
            if shardSize != nil && target != .safetensors && target != .sheaf {
                throw ValidationError("--shard-size writes a sharded Sheaf set or a safetensors model folder; it cannot be used with --to \(target)")
            }
        }

        /// The raw input's layout, when the input is raw.
        var rawLayout: Interchange.RawLayout? {
            guard from == .raw || shape != nil, let shape, let dtype else { return nil }
            return Interchange.RawLayout(dtype: dtype, shape: shape.dimensions, bigEndian: byteOrder == .big)
        }

        func run() throws {
            let raw = rawLayout
            let file = try InputFile(input)
            if raw == nil { try isolation.preflight(file, format: from) }
            try file.reading { path in try convert(path, raw: raw) }
        }

        private func convert(_ path: String, raw: Interchange.RawLayout?) throws {
            let source = try Interchange.open(path: path, format: from ?? (raw != nil ? .raw : nil), raw: raw)
            let target = to ?? InterchangeFormat.forExtension(of: output) ?? (shardSize != nil ? .safetensors : .sheaf)
            var options = ExportOptions()
            options.widen = widen
            options.untie = untie
            options.replace = force
            options.shardSize = shardSize?.bytes
            if let compress { options.save.compression = compress.compression }
            if noPack { options.save.packingThreshold = nil } else if let packBelow { options.save.packingThreshold = packBelow.bytes }
            if !force && shardSize == nil && FileManager.default.fileExists(atPath: output) {
                throw SheafError(.io, file: output, "output exists", remedy: .replace)
            }
            let progress = ProgressBar(enabled: !quiet)
            let report = try Exporter.export(source, to: output, as: target, options: options) { done, total in
                progress.update(done: done, total: total)
            }
            progress.finish()
            if !quiet {
                print("converted \(input) (\(source.format)) to \(output) (\(target)): \(sizeSummary(source.entries))")
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
