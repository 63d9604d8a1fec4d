import ArgumentParser
import Foundation
import Sheaf
import SheafInterchange

extension SheafCommand {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a file's kind, version, metadata and tensors (any format convert reads).")

        @Argument(help: "The file to inspect.") var file: String
        @Option(help: "Input format (default: detected from the content).") var from: InterchangeFormat?
        @Flag(help: "Print the result as JSON.") var json = false
        @OptionGroup var isolation: IsolationOptions

        func run() throws {
            let input = try InputFile(file)
            try isolation.preflight(input, format: from)
            try input.reading { path in try inspect(path) }
        }

        /// A value on one line: a long or multi-line string (a model's config.json)
        /// shows its start and its length.
        static func summary(of value: MetadataValue) -> String { value.abbreviated }

        private func inspect(_ path: String) throws {
            let source = try Interchange.open(path: path, format: from)
            let version = source.formatVersion
            let checksums = source.checksums
            let total = source.entries.reduce(0) { $0 + $1.byteCount }
            if json {
                let tensors: [[String: Any]] = source.entries.map { entry in
                    ["key": entry.key, "dtype": entry.dtype.rawValue, "shape": entry.shape, "bytes": entry.byteCount,
                     "storage": entry.storage, "tied_to": entry.tiedTo as Any? ?? NSNull(),
                     "checksum": checksums[entry.key] as Any? ?? NSNull()]
                }
                var object: [String: Any] = ["file": file, "format": source.format.rawValue, "kind": source.kind.rawValue,
                                             "metadata": metadataJSON(source.metadata), "tensors": tensors, "bytes": total,
                                             "notes": source.notes]
                if let version { object["format_version"] = version }
                print(jsonText(object))
                return
            }
            print("file:     \(file)")
            print("format:   \(source.format)\(version.map { " \($0)" } ?? "")")
            print("kind:     \(source.kind)")
            print("tensors:  \(sizeSummary(source.entries, noun: false))")
            if !source.metadata.isEmpty {
                print("metadata:")
                for (name, value) in source.metadata.sorted(by: { $0.key < $1.key }) {
                    print("  \(name) (\(value.typeName)) = \(Self.summary(of: value))")
                }
            }
            for note in source.notes { print("note: \(note)") }
            var rows = [["key", "dtype", "shape", "bytes", "storage", "tied-to", "checksum"]]
            for entry in source.entries {
                rows.append([entry.key, entry.dtype.rawValue, "[" + entry.shape.map(String.init).joined(separator: ", ") + "]",
                             String(entry.byteCount), entry.storage, entry.tiedTo ?? "-", checksums[entry.key] ?? "-"])
            }
            let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
            }
        }
    }
}
