import Foundation
import Testing
import Sheaf
import SheafInterchange
@testable import SheafRuntime
import SheafTestSupport

/// A module whose two keys share one parameter, as GPT-2's embedding and head do.
final class TiedPair: Module {
    let embedding: Parameter
    let head: Parameter
    override init() {
        let shared = Parameter(.randn([300, 64]))
        embedding = shared
        head = shared
        super.init()
    }
}

@Suite("Loading modules and arrays straight from a Sheaf file")
struct FileLoadingTests {
    /// PyTorch's float16 seed MLP saved as Sheaf, and the output PyTorch computed from it.
    func halfFile(_ folder: TemporaryFolder) throws -> String {
        let path = folder.file("half.sheaf")
        try Interchange.loadStateDict(path: fixturePath("interchange/torch/seed_mlp_float16.params")).save(to: path)
        return path
    }

    @Test("a float16 file loads into a float32 module and gives PyTorch's output")
    func halfModule() throws {
        let folder = try TemporaryFolder()
        let file = try SheafFile(path: try halfFile(folder))
        #expect(try file.entry("hidden.weight").dtype == .float16)
        let net = MLP()
        let (missing, unexpected) = try net.loadStateDict(from: file, device: .cpu)
        #expect(missing.isEmpty && unexpected.isEmpty)
        #expect(net.hidden.weight.value.dtype == .float32)
        let reference = MLP()
        try reference.loadStateDict(try file.stateDict())
        #expect(try net.stateDict() == reference.stateDict())
        try expectFloat16SeedOutput(net)
    }

    @Test("strict checks come from the index in PyTorch's words, and a failed load changes nothing")
    func strictFromIndex() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("wrong.sheaf")
        try Interchange.loadStateDict(path: fixturePath("interchange/torch/seed_mlp_wrong.params")).save(to: path)
        let net = MLP()
        let before = try net.stateDict()
        do {
            try net.loadStateDict(from: try SheafFile(path: path))
            Issue.record("expected an error")
        } catch let error as RuntimeError {
            expectSeedMLPWrongErrors(error)
        }
        #expect(try net.stateDict() == before)
    }

    @Test("a damaged tensor is refused by name and the module keeps its values")
    func damaged() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("mlp.sheaf")
        let source = MLP()
        try source.stateDict().save(to: path)
        try DeviceSelfTest.damage(path, key: "hidden.weight", at: 4000)
        let net = MLP()
        let before = try net.stateDict()
        do {
            try net.loadStateDict(from: try SheafFile(path: path))
            Issue.record("expected a checksum error")
        } catch let error as SheafError {
            #expect(error.code == .checksumMismatch)
            #expect(error.key == "hidden.weight")
        }
        #expect(try net.stateDict() == before)
    }

    @Test("tied parameters load once from a tied file, and differing copies are refused")
    func tied() throws {
        let folder = try TemporaryFolder()
        let source = TiedPair()
        let tiedPath = folder.file("tied.sheaf")
        try source.stateDict().save(to: tiedPath)
        #expect(try SheafFile(path: tiedPath).entry("head").tiedTo == "embedding")
        let net = TiedPair()
        try net.loadStateDict(from: try SheafFile(path: tiedPath))
        #expect(net.embedding === net.head)
        #expect(try net.embedding.value.tensor() == source.embedding.value.tensor())

        var differing = try source.stateDict()
        differing["head"] = try NDArray.randn([300, 64]).tensor()
        let differingPath = folder.file("differing.sheaf")
        try differing.save(to: differingPath)
        #expect(throws: RuntimeError.self) { try net.loadStateDict(from: try SheafFile(path: differingPath)) }
        var copied = try source.stateDict()
        copied["head"] = try Tensor(dtype: .float32, shape: [300, 64], byteArray: ArraySlice(copied["embedding"]!.withUnsafeBytes { Array($0) }))
        let copiedPath = folder.file("copied.sheaf")
        try copied.save(to: copiedPath)
        #expect(try SheafFile(path: copiedPath).entry("head").tiedTo == nil)
        try net.loadStateDict(from: try SheafFile(path: copiedPath))
        #expect(try net.head.value.tensor() == source.embedding.value.tensor())
    }

    @Test("arrays(on:) gives float32 for every floating dtype, one array for tied keys, and refuses unknown keys")
    func arrays() throws {
        let folder = try TemporaryFolder()
        for (name, ok) in try DeviceSelfTest.loadChecks(on: .cpu, directory: folder.path) {
            #expect(ok, "\(name)")
        }
        let file = try SheafFile(path: try halfFile(folder))
        let arrays = try file.arrays(["output.bias", "hidden.weight"], on: .cpu)
        #expect(arrays.keys.sorted() == ["hidden.weight", "output.bias"])
        #expect(arrays["hidden.weight"]?.dtype == .float32)
        #expect(try arrays["hidden.weight"]?.tensor() == file.tensor("hidden.weight").converted(to: .float32))
        #expect(throws: SheafError.self) { try file.arrays(["nope"], on: .cpu) }
    }

    @Test("a checksum computed piece by piece equals the checksum of the whole")
    func checksumStream() {
        let bytes = (0..<100_003).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        for algorithm in ChecksumAlgorithm.allCases {
            for piece in [1, 7, 4096, 65_536, 200_000] {
                var stream = ChecksumStream(algorithm)
                bytes.withUnsafeBytes { all in
                    var start = 0
                    while start < all.count {
                        stream.update(UnsafeRawBufferPointer(rebasing: all[start..<min(all.count, start + piece)]))
                        start += piece
                    }
                }
                #expect(stream.value == bytes.withUnsafeBytes { algorithm.digest($0) }, "\(algorithm) in pieces of \(piece)")
            }
        }
    }
}
