import Foundation
import Testing
@testable import Sheaf

/// The built `SheafSoak` helper, next to the test bundle.
let soakBinary: String = {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.isExecutableFile(atPath: url.path + "/SheafSoak") { return url.path + "/SheafSoak" }
    }
    return "SheafSoak"
}()

/// Reads the durable steps a soak child printed so far.
final class StepReader: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func append(_ data: Data) { lock.lock(); text += String(decoding: data, as: UTF8.self); lock.unlock() }
    var lastStep: Int? {
        lock.lock(); defer { lock.unlock() }
        return text.split(separator: "\n").compactMap { Int($0) }.last
    }
}

@Suite("Crash-safe checkpointing", .serialized)
struct CrashSafetyTests {
    @Test("keepLast, latest, load, and damaged checkpoints skipped with a reason")
    func checkpointer() throws {
        let folder = try TemporaryFolder()
        let checkpoints = try Checkpointer(directory: folder.file("ckpt"), keepLast: 2)
        for step in [1, 2, 3] {
            var sd = StateDict()
            sd["w"] = Tensor([Float(step)])
            try checkpoints.save(sd, step: step, metadata: ["loss": .float(1 / Double(step))])
        }
        #expect(try checkpoints.steps() == [2, 3])
        let latest = try #require(try checkpoints.latest())
        #expect(latest.step == 3)
        #expect(latest.stateDict.metadata["step"] == .int(3))
        #expect(try latest.stateDict.tensor("w").scalars(as: Float.self) == [3])
        #expect(try checkpoints.load(step: 2)["w"]?.scalars(as: Float.self) == [2])
        // Damage the newest: latest() falls back to step 2 and says why.
        let path = checkpoints.path(step: 3)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let offset = try SheafFile(path: path).entry("w").offset!
        bytes[offset] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path))
        let fallback = try #require(try checkpoints.latest())
        #expect(fallback.step == 2)
        #expect(fallback.skipped.first?.step == 3)
        #expect(fallback.skipped.first?.reason.contains("checksum") == true)
    }

    @Test("SIGKILL at random moments never leaves a partial checkpoint (200 kills)")
    func killLoop() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SHEAF_SOAK_SEED"].flatMap { UInt64($0) } ?? UInt64(Date().timeIntervalSince1970))
        print("crash-safety soak seed: \(seed) (rerun with SHEAF_SOAK_SEED=\(seed))")
        var random = SeededGenerator(seed: seed)
        let folder = try TemporaryFolder()
        let directory = folder.file("ckpt")
        var acknowledged = -1
        var next = 0
        var kills = 0
        var delay = 2_000  // grows while children are killed before their first save (slow builds)
        while kills < 200 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: soakBinary)
            process.arguments = ["loop", directory, String(next)]
            let pipe = Pipe()
            let reader = StepReader()
            pipe.fileHandleForReading.readabilityHandler = { reader.append($0.availableData) }
            process.standardOutput = pipe
            try process.run()
            usleep(UInt32(delay) + UInt32.random(in: 0...40_000, using: &random))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            pipe.fileHandleForReading.readabilityHandler = nil
            reader.append(pipe.fileHandleForReading.readDataToEndOfFile())
            kills += 1
            // This child's last durable step (or the one before its first).
            let childLast = reader.lastStep ?? (next - 1)
            if reader.lastStep == nil { delay = min(delay + 10_000, 1_000_000) }
            if let step = reader.lastStep { acknowledged = max(acknowledged, step) }
            // A new start cleans what the killed save left, then finds a complete checkpoint.
            let checkpoints = try Checkpointer(directory: directory, keepLast: 2)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(AtomicFile.temporaryPrefix) }
            #expect(leftovers.isEmpty, "temporary files remain: \(leftovers)")
            guard let latest = try checkpoints.latest() else {
                #expect(acknowledged == -1, "kill \(kills): no checkpoint verifies, but step \(acknowledged) was acknowledged")
                continue
            }
            #expect(latest.skipped.isEmpty, "kill \(kills): damaged checkpoints \(latest.skipped)")
            #expect(latest.step >= childLast, "kill \(kills): lost acknowledged step \(childLast), latest is \(latest.step)")
            #expect(latest.step <= childLast + 1, "kill \(kills): step \(latest.step) beyond the one in flight (\(childLast + 1))")
            var generator = SeededGenerator(seed: UInt64(latest.step))
            let expected = try Tensor(randomUniform: [256, 64], using: &generator)
            #expect(latest.stateDict["weight"] == expected, "kill \(kills): step \(latest.step) holds other data")
            next = latest.step + 1
        }
        #expect(kills == 200)
        #expect(acknowledged > 10, "the soak made too little progress to mean anything (\(acknowledged) steps)")
    }

    @Test("a write error in the middle of a save keeps the previous checkpoint and says why")
    func failingDisk() throws {
        let folder = try TemporaryFolder()
        let directory = folder.file("ckpt")
        let good = try runSoak(["fail", directory, "1", "100000000"])
        #expect(good.status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: try Checkpointer(directory: directory).path(step: 1)))
        // Step 3 is 1.2 MB; allow 200 kB of writes.
        let failed = try runSoak(["fail", directory, "3", "200000"])
        #expect(failed.status == 1)
        #expect(failed.output.contains("File too large") || failed.output.contains("write"), "\(failed.output)")
        let checkpoints = try Checkpointer(directory: directory)
        #expect(try checkpoints.steps() == [1])
        #expect(try Data(contentsOf: URL(fileURLWithPath: checkpoints.path(step: 1))) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == 1)
        #expect(try checkpoints.latest()?.step == 1)
    }

    func runSoak(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try runProcess(soakBinary, arguments)
        return (result.status, result.stdout + result.stderr)
    }
}
