import ArgumentParser
import Foundation
import Sheaf
import SheafInterchange

extension SheafCommand {
    /// The isolated reader: `_probe verify FILE` prints the problems as JSON;
    /// `_probe read FILE` reads every tensor. Not for direct use.
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "_probe", shouldDisplay: false)

        /// What the child does with the file.
        enum Mode: String, ExpressibleByArgument, CaseIterable {
            /// Read every tensor (and, for Sheaf, verify the file); print the first problem.
            case read
            /// Verify a Sheaf file; print every problem.
            case verify
            /// Print the resource limits the child runs under.
            case limits
        }

        @Argument var mode: Mode
        @Argument var file: String

        func run() throws {
            let limits = Self.applyLimits(fileSize: (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
            switch mode {
            case .limits:
                print(Self.encode(limits))
            case .verify:
                let problems = SheafFile.verify(path: file)
                print(Self.encode(problems.map { ProbeReport(key: $0.key, code: $0.code.rawValue, reason: $0.message) }))
            case .read:
                do {
                    let source = try Interchange.open(path: file)
                    if let problems = source.verify() {
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
            let statm = (try? String(contentsOfFile: Platform.statusPath, encoding: .utf8)) ?? ""
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
