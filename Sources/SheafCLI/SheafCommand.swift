import ArgumentParser
import Foundation
import Sheaf
import SheafInterchange

/// The `sheaf` command: the root only configures.
@main
struct SheafCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sheaf",
        abstract: "Save, convert, check and run neural-network weights in the Sheaf format.",
        version: "sheaf 1.0 (format \(FormatLayout.version))",
        subcommands: [Convert.self, Verify.self, Inspect.self, Diff.self, Run.self, Tour.self, Devices.self, Probe.self])

    /// Exit codes: 0 success; 1 invalid input, files differ, or refused; 2 usage
    /// error (bad arguments, unreadable path).
    static func main() {
        PendingTemporaryFiles.removeOnFatalSignals()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as UnreadableInput {
            report(error.error)
            Foundation.exit(2)
        } catch let error as SheafError {
            report(error)
            Foundation.exit(isUsageError(error) ? 2 : 1)
        } catch let error as CommandFailure {
            if !error.message.isEmpty { printError(error.message) }
            Foundation.exit(1)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            // argument-parser's messages start with their own "Error: ".
            var message = fullMessage(for: error)
            if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
            printError(message)
            Foundation.exit(2)
        }
    }

    static func isUsageError(_ error: SheafError) -> Bool {
        error.code == .fileNotFound || error.code == .invalidArgument
    }

    /// Prints `error`, then the flag that resolves it, where the library names a remedy.
    static func report(_ error: SheafError) {
        printError(error.description)
        if let remedy = error.remedy { printWarning("hint: " + hint(for: remedy)) }
    }

    /// The command-line flag for each of the library's remedies.
    static func hint(for remedy: SheafError.Remedy) -> String {
        switch remedy {
        case .widen: "pass --widen to store exact float32 values (lossless)"
        case .untie: "pass --untie to write each tied key's own copy (same values, more bytes)"
        case .replace: "pass --force to replace it (still atomically)"
        case .rawLayout: "for raw bytes pass --from raw with --shape, --dtype and --byte-order"
        }
    }
}

/// An input path that could not be opened as a regular file: a usage error (exit 2).
struct UnreadableInput: Error { let error: SheafError }

/// A failure whose message was already printed (or needs no more than this line).
struct CommandFailure: Error { var message: String = "" }

func printError(_ message: String) {
    FileHandle.standardError.write(Data(("sheaf: error: " + message + "\n").utf8))
}

func printWarning(_ message: String) {
    FileHandle.standardError.write(Data(("sheaf: " + message + "\n").utf8))
}

/// `count` and `noun`, plural unless the count is one ("1 tensor", "2 tensors").
func counted(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

/// A source's tensors and sizes: every key's bytes, and, with ties, the bytes
/// stored once ("14 tensors (1 tied), 621.9 MiB, 474.7 MiB stored").
func sizeSummary(_ entries: [SourceEntry], noun: Bool = true) -> String {
    let logical = entries.reduce(0) { $0 + $1.byteCount }
    let tied = entries.filter { $0.tiedTo != nil }
    let stored = logical - tied.reduce(0) { $0 + $1.byteCount }
    return (noun ? counted(entries.count, "tensor") : String(entries.count)) + (tied.isEmpty ? ", \(formatBytes(logical))"
        : " (\(tied.count) tied), \(formatBytes(logical)), \(formatBytes(stored)) stored")
}

/// Human-readable byte counts.
func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

func jsonText(_ object: Any) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]) else {
        return "{}"
    }
    return String(decoding: data, as: UTF8.self)
}

func metadataJSON(_ metadata: Metadata) -> [String: Any] {
    metadata.mapValues { value -> Any in
        switch value {
        case .string(let v): ["type": "string", "value": v]
        case .int(let v): ["type": "int", "value": v]
        case .float(let v): ["type": "float", "value": v.isFinite ? v as Any : "\(v)"]
        case .bool(let v): ["type": "bool", "value": v]
        case .strings(let v): ["type": "list[string]", "value": v]
        case .ints(let v): ["type": "list[int]", "value": v]
        case .floats(let v): ["type": "list[float]", "value": v.map { $0.isFinite ? $0 as Any : "\($0)" }]
        case .bools(let v): ["type": "list[bool]", "value": v]
        }
    }
}

