import Foundation
import Sheaf
import SheafTestSupport
import Testing

typealias SecurityRecord = SecurityManifest.File

@Suite("Hostile HDF5 and Sheaf files through the binary: refused by every command, with and without isolation")
struct SecurityCommandTests {
    @Test("convert, verify, inspect and diff refuse each file, exit 1, write nothing and never show the outside file",
          arguments: SecurityManifest.committed?.files ?? [])
    func refused(_ record: SecurityRecord) throws {
        try SecurityManifest.plantSecret()
        let input = fixturePath("security/" + record.path)
        for isolation in [[], ["--no-isolate"]] {
            let folder = try TemporaryFolder()
            var runs: [(String, ProcessResult)] = []
            for output in ["out.npz", "out.sheaf", "out.safetensors"] {
                runs.append(("convert to \(output)", try sheaf(["convert", input, folder.file(output)] + isolation)))
            }
            runs.append(("inspect", try sheaf(["inspect", input] + isolation)))
            runs.append(("diff", try sheaf(["diff", input, input] + isolation)))
            let verify = try sheaf(["verify", input] + isolation)
            for (command, result) in runs {
                #expect(result.status == 1, "\(command) \(isolation): \(result.stderr)")
                #expect(result.stderr.hasPrefix("sheaf: error: \(input)"), "\(command) \(isolation): \(result.stderr)")
                #expect(result.stderr.contains(record.message_contains), "\(command) \(isolation): \(result.stderr)")
            }
            #expect(verify.status == 1, "verify \(isolation): \(verify.stdout)")
            if record.format == "sheaf" {
                #expect(verify.stdout.contains(record.message_contains), "verify \(isolation): \(verify.stdout)")
            }
            for (command, result) in runs + [("verify", verify)] {
                #expect(!(result.stdout + result.stderr).contains("SHEAF-SECRET"), "\(command) \(isolation) leaked")
                #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("crashed"), "\(command): \(result.stderr)")
            }
            #expect(folder.contents.isEmpty, "left \(folder.contents)")
        }
    }

    @Test("a FIFO, a directory or a device as input is refused at once, as a usage error (exit 2)")
    func notRegular() throws {
        let folder = try TemporaryFolder()
        let fifo = folder.file("in.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        for isolation in [[], ["--no-isolate"]] {
            for arguments in [["convert", fifo, folder.file("out.sheaf")], ["inspect", fifo], ["diff", fifo, fifo], ["verify", fifo]] {
                let result = try sheaf(arguments + isolation)
                #expect(result.status == 2, "\(arguments): \(result.stderr)")
                #expect((result.stderr + result.stdout).contains("a FIFO"), "\(arguments): \(result.stderr)")
            }
            let directory = try sheaf(["inspect", folder.path] + isolation)
            #expect(directory.status == 2 && directory.stderr.contains("a folder without model weights"), "\(directory.stderr)")
        }
        #expect(folder.contents == ["in.fifo"])
    }
}

@Suite("The isolated reader's limits")
struct IsolationLimitTests {
    @Test("the isolated reader runs with a CPU limit and an address-space limit above what it already uses")
    func limits() throws {
        let input = fixturePath("security/h5_deflate_bomb.h5")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: input)[.size] as? Int)
        let result = try sheaf(["_probe", "limits", input])
        #expect(result.status == 0, "\(result.stderr)")
        let limits = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: UInt64]
        let baseline = try #require(limits?["baseline"])
        #expect(baseline > 0)
        #expect(limits?["budget"] == UInt64(16 << 30) + 4 * UInt64(size))
        #expect(limits?["addressSpace"] == baseline + UInt64(16 << 30) + 4 * UInt64(size))
        #expect(limits?["cpuSeconds"] ?? .max <= 200)
    }
}

@Suite("Interrupted commands leave nothing behind")
struct InterruptionTests {
    @Test("SIGINT or SIGTERM in the middle of a convert removes the temporary file", arguments: [SIGINT, SIGTERM])
    func interrupted(_ signal: Int32) throws {
        let folder = try TemporaryFolder()
        let input = folder.file("big.sheaf")
        var sd = StateDict()
        for i in 0..<8 { sd["w\(i)"] = try Tensor(zeros: [8 << 20], dtype: .float32) }  // 256 MiB
        try sd.save(to: input)
        sd = StateDict()
        let output = folder.file("out.npz")
        // The test runner's threads block signals and a spawned child inherits the
        // mask; start `sheaf` through a shim that clears it, as a shell would.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); "
                             + "[signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)]; "
                             + "os.execv(sys.argv[1], sys.argv[1:])",
                             productsDirectory + "/sheaf", "convert", input, output, "--quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Signal as soon as the temporary file exists: the write is under way.
        var sawTemporary = false
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline {
            if folder.contents.contains(where: { $0.hasPrefix(".sheaf-tmp-") }) {
                sawTemporary = true
                kill(process.processIdentifier, signal)
                break
            }
            usleep(1000)
        }
        process.waitUntilExit()
        #expect(sawTemporary)
        // Writing 256 MiB takes far longer than the signal takes to arrive.
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal,
                "not interrupted: exit \(process.terminationStatus)")
        #expect(folder.contents == ["big.sheaf"], "left \(folder.contents)")
    }
}


@Suite("Seeded mutations of the object headers of outside-pointing files")
struct HeaderMutationTests {
    /// The files whose metadata holds external-file lists, virtual layouts and
    /// external or soft links: flipping bytes there may turn one into another,
    /// or into something libhdf5 half-parses.
    static let seeds = ["h5_external_absolute.h5", "h5_external_relative.h5", "sheaf_external_storage.sheaf",
                        "h5_virtual_other_file.h5", "h5_external_link.h5", "sheaf_external_link.sheaf",
                        "sheaf_soft_link.sheaf", "h5_soft_link.h5"]

    @Test("a mutated file converts or is refused, never shows the outside file, never leaves a temporary file",
          arguments: seeds)
    func mutated(_ seed: String) throws {
        try SecurityManifest.plantSecret()
        let folder = try TemporaryFolder()
        let base = try Data(contentsOf: URL(fileURLWithPath: fixturePath("security/" + seed)))
        let runSeed = UInt64(ProcessInfo.processInfo.environment["SHEAF_DAMAGE_SEED"].flatMap { UInt64($0) } ?? 20261129)
        var random = SeededGenerator(seed: runSeed &+ seed.utf8.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) })
        let input = folder.file("mutant")
        let output = folder.file("out.npz")
        var outcomes: [Int32: Int] = [:]
        for _ in 0..<40 {
            var bytes = base
            // One to four flips in the metadata (all of these files is metadata
            // but for a few bytes of raw data).
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                bytes[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
            }
            try bytes.write(to: URL(fileURLWithPath: input))
            let result = try sheaf(["convert", input, output, "--force", "--quiet"])
            outcomes[result.status, default: 0] += 1
            #expect(result.status == 0 || result.status == 1, "exit \(result.status): \(result.stderr)")
            #expect(!(result.stdout + result.stderr).contains("SHEAF-SECRET"))
            #expect(!result.stderr.contains("Fatal error"))
            if let written = FileManager.default.contents(atPath: output) {
                #expect(!String(decoding: written, as: UTF8.self).contains("SHEAF-SECRET"), "the output holds the outside file")
            }
            #expect(!folder.contents.contains { $0.hasPrefix(".sheaf-tmp-") })
            try? FileManager.default.removeItem(atPath: output)
        }
        #expect(outcomes.values.reduce(0, +) == 40)
    }
}
