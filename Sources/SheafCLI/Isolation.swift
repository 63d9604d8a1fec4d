import ArgumentParser
import Foundation
import Sheaf
import SheafInterchange
import Synchronization

/// Runs libhdf5's parsing of an untrusted file in a child process with CPU and
/// memory limits, so a crash, hang or runaway allocation inside the C library
/// becomes an error message and exit code 1 instead of taking `sheaf` down.
///
/// The child is this same executable running the hidden `_probe` command.
enum Isolation {
    /// Seconds a probe may run (`SHEAF_PROBE_TIMEOUT` overrides).
    static var timeout: TimeInterval {
        ProcessInfo.processInfo.environment["SHEAF_PROBE_TIMEOUT"].flatMap(TimeInterval.init) ?? 120
    }

    enum Outcome {
        /// The child finished; its JSON output.
        case finished(status: Int32, output: Data)
        /// The child was killed by a signal (a crash inside libhdf5) or timed out.
        case failed(String)
    }

    /// The path under which the isolated child reads the parent's descriptor,
    /// which it receives as its standard input.
    static let childPath = "/proc/self/fd/0"

    /// Runs `sheaf _probe MODE /proc/self/fd/0` on the already opened `file` and
    /// waits at most ``timeout``.
    static func probe(_ mode: SheafCommand.Probe.Mode, _ file: InputFile) -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Platform.executablePath)
        // An index is read by its path (its shards are found beside it); anything else as the descriptor.
        process.arguments = ["_probe", mode.rawValue, file.startsWithJSONObject ? file.path : childPath]
        guard let opened = file.opened else { return .failed("a folder, not a file") }
        process.standardInput = FileHandle(fileDescriptor: opened.descriptor.rawValue, closeOnDealloc: false)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        // The child's end: a termination handler signals; its output is
        // collected on a thread (a full pipe would otherwise stall the child).
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do { try process.run() } catch { return .failed("cannot start the isolated reader: \(error)") }
        let collected = Mutex<Data?>(nil)
        let drained = DispatchSemaphore(value: 0)
        let reader = Thread {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            collected.withLock { $0 = data }
            drained.signal()
        }
        reader.start()
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
            drained.wait()
            return .failed("reading the file took longer than \(Int(timeout)) s; it was stopped (set SHEAF_PROBE_TIMEOUT to allow more)")
        }
        drained.wait()
        if process.terminationReason == .uncaughtSignal {
            let signal = process.terminationStatus
            let name = signal == SIGSEGV ? "SIGSEGV" : signal == SIGBUS ? "SIGBUS" : signal == SIGABRT ? "SIGABRT" :
                signal == SIGKILL || signal == SIGXCPU ? "a resource limit" : "signal \(signal)"
            return .failed("the HDF5 library crashed (\(name)) while reading this file: it is damaged or hostile")
        }
        return .finished(status: process.terminationStatus, output: collected.withLock { $0 } ?? Data())
    }

    /// Checks that the HDF5 library can read every tensor of `file` in a child
    /// before this process touches it; throws the child's error or a crash report.
    static func preflight(_ file: InputFile, format: InterchangeFormat?) throws {
        guard format == nil || format == .sheaf || format == .hdf5, file.looksLikeHDF5 else { return }
        switch probe(.read, file) {
        case .failed(let reason):
            throw SheafError(.invalidFile, file: file.path, reason)
        case .finished(let status, let output):
            if status == 0 { return }
            if let report = try? JSONDecoder().decode(ProbeReport.self, from: output) {
                throw file.rename(SheafError(report.code.flatMap(SheafError.Code.init(rawValue:)) ?? .invalidFile,
                                             file: childPath, key: report.key, report.reason), from: childPath)
            }
            throw SheafError(.invalidFile, file: file.path, "the isolated reader failed (exit \(status))")
        }
    }
}

/// What the isolated child reports: one problem (`read`) or a list (`verify`).
struct ProbeReport: Codable {
    var key: String?
    var code: String?
    var reason: String
}

/// `--no-isolate`, shared by the commands that read input files.
struct IsolationOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Check HDF5-based inputs in a separate process with limits first, so a crash or hang in libhdf5 on a hostile file is reported, not fatal.")
    var isolate = true

    func preflight(_ file: InputFile, format: InterchangeFormat? = nil) throws {
        if isolate { try Isolation.preflight(file, format: format) }
    }
}
