import ArgumentParser
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
    static func probe(_ mode: String, _ file: InputFile) -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = ["_probe", mode, childPath]
        process.standardInput = FileHandle(fileDescriptor: file.descriptor.rawValue, closeOnDealloc: false)
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
    static func preflight(_ file: InputFile, format: InterchangeFormat?) throws {
        guard format == nil || format == .sheaf || format == .hdf5, file.looksLikeHDF5 else { return }
        switch probe("read", file) {
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

    func preflight(_ file: InputFile, format: InterchangeFormat? = nil) throws {
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
            let limits = Self.applyLimits(fileSize: (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
            switch mode {
            case "limits":
                print(Self.encode(limits))
            case "verify":
                let problems = SheafFile.verify(path: file)
                print(Self.encode(problems.map { ProbeReport(key: $0.key, code: $0.code.rawValue, reason: $0.message) }))
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
                    print(Self.encode(ProbeReport(key: error.key, code: error.code.rawValue, reason: error.message)))
                    throw ExitCode(1)
                }
            }
        }

        /// The limits the isolated reader runs under, as set.
        struct Limits: Codable {
            /// Address space in use when the limits were set (AddressSanitizer alone
            /// reserves terabytes), and what reading may add on top of it.
            var baseline: UInt64
            var budget: UInt64
            var addressSpace: UInt64
            var cpuSeconds: UInt64
        }

        /// CPU time, and an address space of what the process already uses plus
        /// 16 GiB and four times the file: far above what the read limits allow
        /// one tensor, so only a runaway inside libhdf5 reaches it.
        static func applyLimits(fileSize: Int) -> Limits {
            var cpu = rlimit(rlim_cur: rlim_t(Isolation.timeout + 5), rlim_max: rlim_t(Isolation.timeout + 10))
            setrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
            let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
            let pages = UInt64(statm.split(separator: " ").first.flatMap { UInt64($0) } ?? 0)
            let baseline = pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
            let budget = UInt64(16 << 30) + 4 * UInt64(max(fileSize, 0))
            var memory = rlimit(rlim_cur: rlim_t(baseline + budget), rlim_max: rlim_t(baseline + budget))
            setrlimit(Int32(RLIMIT_AS.rawValue), &memory)
            var applied = rlimit()
            getrlimit(Int32(RLIMIT_AS.rawValue), &applied)
            getrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
            return Limits(baseline: baseline, budget: budget, addressSpace: UInt64(applied.rlim_cur), cpuSeconds: UInt64(cpu.rlim_cur))
        }

        static func encode<T: Encodable>(_ value: T) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }
    }
}
