import Foundation
import Testing
@testable import Sheaf
@testable import SheafHDF5
@testable import SheafInterchange
import SheafTestSupport

/// One file of Fixtures/security/manifest.json (written by plain h5py).
struct SecurityFixture: CustomTestStringConvertible, Sendable {
    let path: String
    let format: String
    let error: SheafError.Code
    let contains: String
    var testDescription: String { path }
    var fullPath: String { fixturePath("security/" + path) }

    static let all: [SecurityFixture] = (SecurityManifest.committed?.files ?? []).map {
        SecurityFixture(path: $0.path, format: $0.format, error: SheafError.Code(rawValue: $0.error) ?? .io,
                        contains: $0.message_contains)
    }
}

@Suite("Hostile HDF5 and Sheaf files: nothing outside the file is read, resources stay bounded (Fixtures/security)")
struct SecurityFixtureTests {
    @Test("the manifest covers every probe")
    func manifest() {
        #expect(SecurityFixture.all.count >= 23)
        let codes = Set(SecurityFixture.all.map(\.error))
        #expect(codes == [.unsupported, .limitExceeded, .invalidFile, .invalidIndex, .invalidMetadata])
    }

    @Test("each file is refused by the library with its error, and no outside byte reaches the message",
          arguments: SecurityFixture.all)
    func library(_ fixture: SecurityFixture) throws {
        try SecurityManifest.plantSecret()
        // Every reader of the library: the interchange reader, the full load, the lazy reader.
        let viaInterchange = expectSheafError(fixture.error) { _ = try Interchange.open(path: fixture.fullPath).stateDict() }
        #expect(viaInterchange?.description.contains(fixture.contains) == true, "\(viaInterchange.map { "\($0)" } ?? "nothing")")
        #expect(viaInterchange?.file == fixture.fullPath)
        #expect(viaInterchange?.description.contains("SHEAF-SECRET") == false)
        if fixture.format == "sheaf" {
            let viaLoad = expectSheafError(fixture.error) { _ = try StateDict(contentsOf: fixture.fullPath) }
            #expect(viaLoad?.description.contains(fixture.contains) == true, "\(viaLoad.map { "\($0)" } ?? "nothing")")
            let problems = SheafFile.verify(path: fixture.fullPath)
            #expect(problems.contains { $0.code == fixture.error && $0.description.contains(fixture.contains) }, "\(problems)")
            #expect(!problems.contains { $0.description.contains("SHEAF-SECRET") })
        }
    }

    @Test("a checksum mismatch names the index's checksum and never the one computed from the data")
    func checksumMessageLeaksNothing() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("w.sheaf")
        var sd = StateDict()
        sd["w"] = Tensor((0..<64).map { Float($0) })
        try sd.save(to: path)
        let file = try SheafFile(path: path)
        let entry = try file.entry("w")
        let offset = try #require(entry.offset)
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[offset + 5] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        let damaged = bytes[offset..<(offset + entry.byteCount)]
        let computed = damaged.withUnsafeBytes { file.checksumAlgorithm.format(file.checksumAlgorithm.digest($0)) }
        let error = expectSheafError(.checksumMismatch) { _ = try StateDict(contentsOf: path) }
        #expect(error?.message.contains(file.checksumAlgorithm.format(entry.checksum)) == true)
        #expect(error?.message.contains(computed) == false, "\(error.map { "\($0)" } ?? "")")
        let lazy = expectSheafError(.checksumMismatch) { _ = try SheafFile(path: path).tensor("w") }
        #expect(lazy?.message.contains(computed) == false)
        #expect(!SheafFile.verify(path: path).contains { $0.message.contains(computed) })
    }

    @Test("damage is caught on every read path: contiguous, deflate, tied, lazy, full and index-trusted loads")
    func checksumsOnEveryPath() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        var generator = SeededGenerator(seed: 7)
        sd["c"] = try Tensor(randomNormal: [256], using: &generator)
        sd["t"] = sd["c"]
        // Contiguous data: one flipped bit in the tensor's bytes.
        let plain = folder.file("plain.sheaf")
        try sd.save(to: plain)
        let offset = try #require(try SheafFile(path: plain).entry("c").offset)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: plain))
        bytes[offset + 17] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: plain))
        for (label, load) in [("full load", { _ = try StateDict(contentsOf: plain) }),
                              ("index-trusted load", { _ = try SheafFile(path: plain).stateDict(trustIndex: true) }),
                              ("lazy read", { _ = try SheafFile(path: plain).tensor("c") }),
                              ("lazy read of the tied key", { _ = try SheafFile(path: plain).tensor("t") })] as [(String, () throws -> Void)] {
            let error = expectSheafError(.checksumMismatch, load)
            #expect(error?.key == "c" || (label.contains("tied") && error?.key == "t"), "\(label): \(error.map { "\($0)" } ?? "")")
        }
        #expect(SheafFile.verify(path: plain).contains { $0.code == .checksumMismatch && $0.key == "c" })
        // Deflate data (a flipped bit in the stream would fail in zlib first): the
        // index's checksum changed by one digit, so the decoded bytes no longer match.
        let packed = folder.file("packed.sheaf")
        try sd.save(to: packed, options: SaveOptions(compression: .deflate(level: 4)))
        let file = try SheafFile(path: packed)
        #expect(try file.entry("c").storage == .deflate)
        let recorded = file.checksumAlgorithm.format(try file.entry("c").checksum)
        var text = try Data(contentsOf: URL(fileURLWithPath: packed))
        let needle = Data(recorded.utf8)
        var replaced = 0
        while let range = text.range(of: needle) {
            var changed = Data(recorded.utf8)
            changed[0] = changed[0] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
            text.replaceSubrange(range, with: changed)
            replaced += 1
        }
        #expect(replaced == 2)  // the key and its tie
        try text.write(to: URL(fileURLWithPath: packed))
        expectSheafError(.checksumMismatch) { _ = try StateDict(contentsOf: packed) }
        expectSheafError(.checksumMismatch) { _ = try SheafFile(path: packed).tensor("c") }
        expectSheafError(.checksumMismatch) { _ = try SheafFile(path: packed).tensor("t") }
        #expect(SheafFile.verify(path: packed).contains { $0.code == .checksumMismatch && $0.key == "c" })
    }

    @Test("a tensor that compresses past the read limit is written contiguous and reads back")
    func writerStaysWithinReadLimits() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("zeros.sheaf")
        var sd = StateDict()
        sd["zeros"] = try Tensor(zeros: [(HDF5ReadLimits.expansionAllowance >> 2) + 1024], dtype: .float32)
        sd["small"] = try Tensor(zeros: [4096], dtype: .float32)
        try sd.save(to: path, options: SaveOptions(compression: .deflate(level: 4)))
        let file = try SheafFile(path: path)
        #expect(try file.entry("zeros").storage == .contiguous)
        #expect(try file.entry("small").storage == .deflate)
        #expect(SheafFile.verify(path: path).isEmpty)
        #expect(try StateDict(contentsOf: path)["zeros"]?.byteCount == sd["zeros"]?.byteCount)
    }

    @Test("FIFOs, directories and devices are refused before anything blocks on them")
    func onlyRegularFiles() throws {
        let folder = try TemporaryFolder()
        let fifo = folder.file("in.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let error = expectSheafError(.io) { _ = try SheafFile(path: fifo) }
        #expect(error?.message.contains("a FIFO") == true)
        expectSheafError(.io) { _ = try Interchange.open(path: fifo) }
        let directory = expectSheafError(.io) { _ = try SheafFile(path: folder.path) }
        #expect(directory?.message.contains("not a regular file (a directory)") == true)
        // A folder given to the converter is a model folder: one without weights says so.
        let notModel = expectSheafError(.fileNotFound) { _ = try Interchange.open(path: folder.path) }
        #expect(notModel?.message.contains("without model weights") == true)
        expectSheafError(.io) { _ = try SheafFile(path: "/dev/zero") }
    }

    @Test("a file with 5,000 tensors and 3,000 root attributes opens and verifies")
    func manyObjects() throws {
        // The benchmark times this at 100,000 tensors; here it must simply work.
        let folder = try TemporaryFolder()
        let path = folder.file("many.sheaf")
        var sd = StateDict()
        for i in 0..<5_000 { sd["layer\(i).w"] = Tensor([Float(i)]) }
        for i in 0..<3_000 { sd.metadata["a\(i)"] = .int(Int64(i)) }
        try sd.save(to: path)
        #expect(SheafFile.verify(path: path).isEmpty)
        #expect(try SheafFile(path: path).metadata.count == 3_000)
    }

    @Test("the writer refuses more metadata than readers accept")
    func attributeLimit() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        sd["w"] = Tensor([Float(1)])
        for i in 0..<HDF5ReadLimits.maxAttributes { sd.metadata["a\(i)"] = .int(Int64(i)) }
        let error = expectSheafError(.invalidMetadata) { try sd.save(to: folder.file("attrs.sheaf")) }
        #expect(error?.message.contains("\(HDF5ReadLimits.maxAttributes)") == true)
        #expect(folder.contents.isEmpty)
    }
}
