import Foundation
import Testing

/// Fixtures/security/manifest.json: files that point outside themselves or
/// claim more than they hold, written by plain h5py.
struct SecurityRecord: Decodable, Sendable, CustomTestStringConvertible {
    var path: String
    var format: String
    var error: String
    var message_contains: String
    var testDescription: String { path }

    struct Manifest: Decodable {
        var secret: String
        var secret_fifo: String
        var files: [SecurityRecord]
    }

    static let manifest: Manifest? = {
        guard let data = FileManager.default.contents(atPath: fixturePath("security/manifest.json")) else { return nil }
        return try? JSONDecoder().decode(Manifest.self, from: data)
    }()

    static let marker = "SHEAF-SECRET-MARKER-0123456789012345678901234567890123456789012"

    /// The outside file the fixtures name, filled with a marker, and the FIFO.
    static func plantSecret() throws {
        guard let manifest else { return }
        if FileManager.default.contents(atPath: manifest.secret) != Data(marker.utf8) {
            let staging = manifest.secret + ".\(getpid()).tmp"
            try Data(marker.utf8).write(to: URL(fileURLWithPath: staging))
            rename(staging, manifest.secret)
        }
        if access(manifest.secret_fifo, F_OK) != 0 { mkfifo(manifest.secret_fifo, 0o600) }
    }
}

@Suite("Hostile HDF5 and Sheaf files through the binary: refused by every command, with and without isolation")
struct SecurityCommandTests {
    @Test("convert, verify, inspect and diff refuse each file, exit 1, write nothing and never show the outside file",
          arguments: SecurityRecord.manifest?.files ?? [])
    func refused(_ record: SecurityRecord) throws {
        try SecurityRecord.plantSecret()
        let input = fixturePath("security/" + record.path)
        for isolation in [[], ["--no-isolate"]] {
            let folder = try TemporaryFolder()
            var runs: [(String, Run)] = []
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

    @Test("a FIFO, a directory or a device as input is refused at once")
    func notRegular() throws {
        let folder = try TemporaryFolder()
        let fifo = folder.file("in.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        for isolation in [[], ["--no-isolate"]] {
            for arguments in [["convert", fifo, folder.file("out.sheaf")], ["inspect", fifo], ["diff", fifo, fifo], ["verify", fifo]] {
                let result = try sheaf(arguments + isolation)
                #expect(result.status == 1, "\(arguments): \(result.stderr)")
                #expect((result.stderr + result.stdout).contains("a FIFO"), "\(arguments): \(result.stderr)")
            }
            let directory = try sheaf(["inspect", folder.path] + isolation)
            #expect(directory.status == 1 && directory.stderr.contains("a directory"), "\(directory.stderr)")
        }
        #expect(folder.contents == ["in.fifo"])
    }
}

/// Runs the real `sheaf` binary with an argument list.
func sheaf(_ arguments: [String], in folder: String? = nil) throws -> Run {
    try run(productsDirectory + "/sheaf", arguments, in: folder)
}
