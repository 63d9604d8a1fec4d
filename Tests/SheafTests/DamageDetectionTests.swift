import Foundation
import Testing
import Sheaf

@Suite("Damaged files are always detected")
struct DamageDetectionTests {
    /// A file with every kind of content: dtypes, a tie, file and tensor metadata, deflate.
    static func sample() throws -> StateDict {
        var sd = StateDict()
        for (i, dtype) in DType.allCases.enumerated() { sd["t.\(dtype)"] = try sampleTensor(dtype, shape: [3, 7], seed: UInt64(i)) }
        var annotated = try sampleTensor(.float32, shape: [64], seed: 99)
        annotated.metadata = ["unit": "m/s", "scale": 0.5, "ids": .ints([1, 2, 3]), "frozen": true]
        sd["annotated"] = annotated
        sd["tied"] = sd["t.float32"]
        sd.metadata = ["epoch": 3, "name": "damage", "losses": .floats([0.5, 0.25]), "done": false]
        return sd
    }

    @Test("seeded bit flips and truncations: sheaf verify exits 1 with a reason, or the file still loads to the same content",
          arguments: [(SaveOptions(), 1000), (SaveOptions(compression: .deflate(level: 3)), 500)])
    func mutations(options: SaveOptions, count: Int) throws {
        let folder = try TemporaryFolder()
        let original = try Self.sample()
        let path = folder.file("base.sheaf")
        try original.save(to: path, options: options)
        let base = try Data(contentsOf: URL(fileURLWithPath: path))
        let seed = UInt64(ProcessInfo.processInfo.environment["SHEAF_DAMAGE_SEED"].flatMap { UInt64($0) } ?? 20261126)
        var random = SeededGenerator(seed: seed)
        var detected = 0, harmless = 0, crashes = 0
        let batch = 100
        for start in stride(from: 0, to: count, by: batch) {
            var paths: [String] = []
            for round in start..<min(count, start + batch) {
                var bytes = base
                if round % 5 == 4 {
                    bytes = bytes.prefix(Int.random(in: 0..<base.count, using: &random))
                } else {
                    let position = Int.random(in: 0..<base.count, using: &random)
                    bytes[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
                }
                let mutant = folder.file("m\(round).sheaf")
                try bytes.write(to: URL(fileURLWithPath: mutant))
                paths.append(mutant)
            }
            let result = try sheafBinary(["verify", "--json"] + paths)
            #expect(result.status == 0 || result.status == 1, "seed \(seed): verify exited \(result.status)")
            let reports = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]])
            #expect(reports.count == paths.count)
            for report in reports {
                let file = report["file"] as! String
                if report["ok"] as? Bool == true {
                    // Verify says valid: every tensor and all metadata must be what was written.
                    let loaded = try StateDict(contentsOf: file)
                    #expect(loaded == original, "seed \(seed) \(file): undetected change")
                    harmless += 1
                } else {
                    let problems = report["problems"] as? [[String: Any]] ?? []
                    #expect(!problems.isEmpty && problems.allSatisfy { !($0["reason"] as? String ?? "").isEmpty })
                    if problems.contains(where: { ($0["reason"] as? String ?? "").contains("crashed") }) { crashes += 1 }
                    detected += 1
                }
                try? FileManager.default.removeItem(atPath: file)
            }
        }
        print("damage (\(options.compression)): seed \(seed), \(count) mutations: \(detected) detected (\(crashes) contained libhdf5 crashes), \(harmless) harmless")
        #expect(detected + harmless == count)
    }
}

/// Runs the built `sheaf` binary (next to the test bundle).
func sheafBinary(_ arguments: [String]) throws -> (status: Int32, output: String) {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.isExecutableFile(atPath: url.path + "/sheaf") { break }
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: url.path + "/sheaf")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
