import Foundation
import Sheaf
import SheafInterchange

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

    /// Whether the file starts with an HDF5 signature at 0, 512, 1024, … (checked
    /// without libhdf5).
    static func looksLikeHDF5(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        var offset: UInt64 = 0
        let size = (try? handle.seekToEnd()) ?? 0
        while offset + 8 <= size {
            try? handle.seek(toOffset: offset)
            if let bytes = try? handle.read(upToCount: 8), Array(bytes) == signature { return true }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }

    enum Outcome {
        /// The child finished; its JSON output.
        case finished(status: Int32, output: Data)
        /// The child was killed by a signal (a crash inside libhdf5) or timed out.
        case failed(String)
    }

    /// Runs `sheaf _probe MODE FILE` and waits at most ``timeout``.
    static func probe(_ mode: String, _ file: String) -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = ["_probe", mode, file]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return .failed("cannot start the isolated reader: \(error)") }
        let collected = DataBox()
        let reader = Thread { collected.set(output.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(2000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return .failed("reading the file took longer than \(Int(timeout)) s; it was stopped (set SHEAF_PROBE_TIMEOUT to allow more)")
        }
        process.waitUntilExit()
        while !collected.done { usleep(1000) }
        if process.terminationReason == .uncaughtSignal {
            let signal = process.terminationStatus
            let name = signal == SIGSEGV ? "SIGSEGV" : signal == SIGBUS ? "SIGBUS" : signal == SIGABRT ? "SIGABRT" :
                signal == SIGKILL || signal == SIGXCPU ? "a resource limit" : "signal \(signal)"
            return .failed("the HDF5 library crashed (\(name)) while reading this file: it is damaged or hostile")
        }
        return .finished(status: process.terminationStatus, output: collected.value)
    }

    /// Checks that the HDF5 library can read every tensor of `file` in a child
    /// before this process touches it; throws the child's error or a crash report.
    static func preflight(_ file: String, format: InterchangeFormat?) throws {
        guard format == nil || format == .sheaf || format == .hdf5, looksLikeHDF5(file) else { return }
        switch probe("read", file) {
        case .failed(let reason):
            throw SheafError(.invalidFile, file: file, reason)
        case .finished(let status, let output):
            if status == 0 { return }
            if let object = try? JSONSerialization.jsonObject(with: output) as? [String: Any],
               let message = object["message"] as? String {
                let code = (object["code"] as? String).flatMap(SheafError.Code.init(rawValue:)) ?? .invalidFile
                throw SheafError(code, file: file, key: object["key"] as? String, message)
            }
            throw SheafError(.invalidFile, file: file, "the isolated reader failed (exit \(status))")
        }
    }
}

final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false
    func set(_ value: Data) { lock.lock(); data = value; finished = true; lock.unlock() }
    var done: Bool { lock.lock(); defer { lock.unlock() }; return finished }
    var value: Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// `--no-isolate`, shared by the commands that read input files.
struct IsolationOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Check HDF5-based inputs in a separate process with limits first, so a crash or hang in libhdf5 on a hostile file is reported, not fatal.")
    var isolate = true

    func preflight(_ file: String, format: InterchangeFormat? = nil) throws {
        if isolate { try Isolation.preflight(file, format: format) }
    }
}

extension SheafCommand {
    /// The isolated reader: `_probe verify FILE` prints the problems as JSON;
    /// `_probe read FILE` reads every tensor. Not for direct use.
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "_probe", shouldDisplay: false)

        @Argument var mode: String
        @Argument var file: String

        func run() throws {
            // Limits: CPU time, and address space well above what the file needs.
            var cpu = rlimit(rlim_cur: rlim_t(Isolation.timeout + 5), rlim_max: rlim_t(Isolation.timeout + 10))
            setrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
            // AddressSanitizer reserves terabytes of address space: no limit under it.
            if ProcessInfo.processInfo.environment["ASAN_OPTIONS"] == nil {
                let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
                let bytes = rlim_t(16 << 30) + rlim_t(4 * max(size, 0))
                var memory = rlimit(rlim_cur: bytes, rlim_max: bytes)
                setrlimit(Int32(RLIMIT_AS.rawValue), &memory)
            }
            switch mode {
            case "verify":
                let problems = SheafFile.verify(path: file)
                print(jsonText(problems.map { ["key": $0.key as Any? ?? NSNull(), "code": $0.code.rawValue, "reason": $0.message] }))
            default:
                do {
                    let source = try Interchange.open(path: file)
                    if source.format == .sheaf {
                        let problems = SheafFile.verify(path: file)
                        if let first = problems.first {
                            throw SheafError(first.code, file: file, key: first.key, first.message)
                        }
                    } else {
                        for index in source.entries.indices { _ = try source.tensor(at: index) }
                    }
                    print("{\"ok\": true}")
                } catch let error as SheafError {
                    print(jsonText(["code": error.code.rawValue, "message": error.message, "key": error.key as Any? ?? NSNull()]))
                    throw ExitCode(1)
                }
            }
        }
    }
}

import ArgumentParser
