import Foundation
import Testing
@testable import Sheaf
import SheafHDF5
import SheafTestSupport

/// How a global tensor is split over ranks.
enum Sharding { case rows, columns, replicated }

/// A model-like state dict, each tensor with how it is sharded: row- and
/// column-sharded matrices (tensor-parallel linear layers), replicated norms,
/// a bfloat16 and a bool tensor, a scalar and an empty tensor.
func shardedModel(seed: UInt64) throws -> [(key: String, tensor: Tensor, sharding: Sharding)] {
    var random = SeededGenerator(seed: seed)
    func bytes(_ dtype: DType, _ shape: [Int]) throws -> Tensor {
        try Tensor(dtype: dtype, shape: shape) { buffer in
            for i in 0..<buffer.count { buffer[i] = UInt8.random(in: 0...255, using: &random) }
        }
    }
    var bools = try bytes(.uint8, [37])
    bools = try Tensor(dtype: .bool, shape: [37]) { buffer in bools.withUnsafeBytes { source in
        for i in 0..<buffer.count { buffer[i] = source[i] & 1 }
    } }
    return [
        ("embed.weight", try Tensor(randomNormal: [101, 24], using: &random), .rows),
        ("layers.0.attention.qkv.weight", try Tensor(randomNormal: [72, 24], using: &random), .rows),
        ("layers.0.attention.proj.weight", try Tensor(randomNormal: [24, 24], using: &random), .columns),
        ("layers.0.norm.weight", try Tensor(randomNormal: [24], using: &random), .replicated),
        ("layers.0.mlp.up.weight", try bytes(.bfloat16, [96, 24]), .rows),
        ("layers.0.mlp.down.weight", try bytes(.bfloat16, [24, 96]), .columns),
        ("layers.0.mlp.down.bias", try bytes(.int64, [24]), .replicated),
        ("mask", bools, .rows),
        ("step", Tensor(scalar: Int64(seed)), .replicated),
        ("empty", try Tensor(zeros: [0, 8]), .rows),
        ("lm_head.weight", try Tensor(randomNormal: [3, 24], using: &random), .rows),  // fewer rows than ranks
    ]
}

/// The elements of `ranges` (one per dimension) of `tensor`.
func slice(_ tensor: Tensor, _ ranges: [Range<Int>]) throws -> Tensor {
    let layout = try TensorSlice(shape: tensor.shape, ranges: ranges, itemSize: tensor.dtype.itemSize, file: "", key: "")
    return try Tensor(dtype: tensor.dtype, shape: layout.outputShape) { output in
        tensor.withUnsafeBytes { layout.gather(from: $0, into: output) }
    }
}

/// The ranges of part `part` of `parts` of a tensor sharded as given.
func ranges(of tensor: Tensor, _ sharding: Sharding, part: Int, of parts: Int) -> [Range<Int>] {
    var result = tensor.shape.map { 0..<$0 }
    switch sharding {
    case .replicated: break
    case .rows where !result.isEmpty: result[0] = TensorShard.range(part: part, of: parts, length: tensor.shape[0])
    case .columns where result.count > 1: result[1] = TensorShard.range(part: part, of: parts, length: tensor.shape[1])
    default: break
    }
    return result
}

/// The pieces rank `rank` of `size` holds.
func pieces(_ model: [(key: String, tensor: Tensor, sharding: Sharding)], rank: Int, of size: Int) throws -> [TensorShard] {
    try model.map { key, tensor, sharding in
        let part = ranges(of: tensor, sharding, part: rank, of: size)
        return TensorShard(key: key, shape: tensor.shape, start: part.map(\.lowerBound), tensor: try slice(tensor, part))
    }
}

/// Runs `body` once per rank of a group of `size`, each on its own thread,
/// and returns each rank's result or error, in rank order.
func onRanks<R: Sendable>(_ size: Int, _ body: @escaping @Sendable (LocalCommunicatorGroup.Member) throws -> R) -> [Result<R, any Error>] {
    let group = LocalCommunicatorGroup(size: size)
    let results = Mutex<[Result<R, any Error>?]>(Array(repeating: nil, count: size))
    let done = DispatchGroup()
    for rank in 0..<size {
        done.enter()
        Thread {
            let outcome = Result { try body(group.communicator(rank: rank)) }
            results.withLock { $0[rank] = outcome }
            done.leave()
        }.start()
    }
    done.wait()
    return results.withLock { $0.map { $0! } }
}

func same(_ a: Tensor, _ b: Tensor) -> Bool { a.bitwiseEqual(b) }

import Synchronization

@Suite("Distributed checkpoints: sharded saves by many ranks, loads at any world size (Spec §17)")
struct DistributedCheckpointTests {
    /// Saves the seeded model sharded `size` ways into `folder`.
    func save(seed: UInt64, size: Int, into folder: String, metadata: Metadata = ["seed": .int(1)]) throws -> [String] {
        let model = try shardedModel(seed: seed)
        let outcomes = onRanks(size) { communicator in
            try DistributedCheckpoint.save(try pieces(model, rank: communicator.rank, of: size), metadata: metadata,
                                           to: folder, communicator: communicator,
                                           options: SaveOptions(blockSize: 64))
        }
        return try outcomes.map { try $0.get() }
    }

    @Test("saved by 4 ranks, loaded whole and by 1, 2 and 4 ranks with other shardings: every tensor bit-identical")
    func saveAndReshard() throws {
        let folder = try TemporaryFolder()
        let masters = try save(seed: 7, size: 4, into: folder.path)
        #expect(Set(masters) == [folder.file("checkpoint.sheaf")])
        #expect(folder.contents == ["checkpoint-g00001-rank00000-of-00004.sheaf", "checkpoint-g00001-rank00001-of-00004.sheaf",
                                    "checkpoint-g00001-rank00002-of-00004.sheaf", "checkpoint-g00001-rank00003-of-00004.sheaf",
                                    "checkpoint.sheaf"])
        let model = try shardedModel(seed: 7)
        let checkpoint = try DistributedCheckpoint(path: masters[0])
        #expect(checkpoint.keys == model.map(\.key))
        #expect(checkpoint.worldSize == 4)
        #expect(checkpoint.metadata == ["seed": .int(1)])
        let whole = try checkpoint.stateDict()
        for (key, tensor, _) in model {
            #expect(whole[key].map { same($0, tensor) } == true, "\(key)")
        }
        // Replicated tensors are written once, by rank 0; a tensor of 3 rows has no piece on rank 3.
        let rank0 = try SheafFile(path: folder.file("checkpoint-g00001-rank00000-of-00004.sheaf"))
        let rank3 = try SheafFile(path: folder.file("checkpoint-g00001-rank00003-of-00004.sheaf"))
        #expect(rank0.keys.contains("layers.0.norm.weight") && !rank3.keys.contains("layers.0.norm.weight"))
        #expect(try checkpoint.entry("layers.0.norm.weight").pieces.count == 1)
        #expect(try checkpoint.entry("embed.weight").pieces.map(\.count) == [[26, 24], [25, 24], [25, 24], [25, 24]])
        // Loaded by 1, 2 and 4 ranks, each with a sharding unlike the save's (rows for columns and back).
        for size in [1, 2, 4] {
            let outcomes = onRanks(size) { communicator in
                let loaded = try DistributedCheckpoint(path: folder.file("checkpoint.sheaf"))
                var mismatches: [String] = []
                for (key, tensor, sharding) in model {
                    let other: Sharding = sharding == .rows ? .columns : sharding == .columns ? .rows : .replicated
                    let part = ranges(of: tensor, other, part: communicator.rank, of: size)
                    if !same(try loaded.tensor(key, slice: part), try slice(tensor, part)) { mismatches.append(key) }
                }
                return mismatches
            }
            for outcome in outcomes { #expect(try outcome.get() == [], "world size \(size)") }
        }
        #expect(DistributedCheckpoint.verify(path: masters[0]) == [])
        #expect(SheafFile.verify(path: masters[0]) == [])
    }

    @Test("h5py opens the master and reads every whole tensor through its virtual datasets, from another folder",
          .enabled(if: pythonAvailable, "needs the test virtual environment (scripts/test.sh makes it)"))
    func h5pyReadsTheMaster() throws {
        let folder = try TemporaryFolder(), elsewhere = try TemporaryFolder()
        _ = try save(seed: 11, size: 4, into: folder.path)
        let expected = try shardedModel(seed: 11).map { key, tensor, _ in
            [key, try FormatLayout.linkName(for: key), tensor.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }]
        }
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: elsewhere.file("expected.json")))
        let script = """
        import h5py, json, sys, numpy as np
        expected = json.load(open("expected.json"))
        with h5py.File(sys.argv[1], "r") as f:
            assert f.attrs["sheaf_kind"] == "distributed"
            for key, name, hex in expected:
                data = f["tensors"][name]
                assert data.is_virtual or data.size == 0, key
                raw = np.ascontiguousarray(data[()]).tobytes()
                assert raw.hex() == hex, key
        print("ok", len(expected))
        """
        let result = try runProcess(try #require(testPython), ["-c", script, folder.file("checkpoint.sheaf")], in: elsewhere.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "ok 11\n")
    }

    @Test("an ordinary reader refuses the master, naming what it is")
    func ordinaryReaderRefuses() throws {
        let folder = try TemporaryFolder()
        _ = try save(seed: 1, size: 2, into: folder.path)
        #expect { _ = try SheafFile(path: folder.file("checkpoint.sheaf")) } throws: { error in
            (error as? SheafError)?.code == .unsupported && "\(error)".contains("distributed checkpoint")
        }
        #expect(DistributedCheckpoint.isMaster(path: folder.file("checkpoint.sheaf")))
        #expect(!DistributedCheckpoint.isMaster(path: folder.file("checkpoint-g00001-rank00000-of-00002.sheaf")))
    }

    @Test("a second save commits a new generation and removes the old one's shards; same input, same bytes")
    func generationsAndDeterminism() throws {
        let folder = try TemporaryFolder(), other = try TemporaryFolder()
        _ = try save(seed: 1, size: 4, into: folder.path)
        // What killed saves leave: a shard file and temporary files of a generation never committed.
        for leftover in ["checkpoint-g00002-rank00003-of-00004.sheaf", ".sheaf-tmp-checkpoint-g00002-rank00000-of-00004.sheaf-x1",
                         ".sheaf-tmp-checkpoint.sheaf-x2"] {
            _ = FileManager.default.createFile(atPath: folder.file(leftover), contents: Data([1]))
        }
        _ = FileManager.default.createFile(atPath: folder.file("other-g00001-rank00000-of-00001.sheaf"), contents: Data([1]))
        _ = try save(seed: 2, size: 2, into: folder.path)
        #expect(folder.contents == ["checkpoint-g00003-rank00000-of-00002.sheaf", "checkpoint-g00003-rank00001-of-00002.sheaf",
                                    "checkpoint.sheaf", "other-g00001-rank00000-of-00001.sheaf"])
        let loaded = try DistributedCheckpoint(path: folder.file("checkpoint.sheaf"))
        #expect(try same(loaded.tensor("embed.weight"), shardedModel(seed: 2)[0].tensor))
        let third = try TemporaryFolder()
        for target in [other, third] {
            _ = try save(seed: 1, size: 4, into: target.path)
            _ = try save(seed: 2, size: 2, into: target.path)
        }
        #expect(other.contents.count == 3)
        for name in other.contents {
            #expect(FileManager.default.contents(atPath: other.file(name)) == FileManager.default.contents(atPath: third.file(name)), "\(name)")
        }
    }

    @Test("a rank that cannot save makes every rank throw, names it, and leaves the previous checkpoint")
    func failedSaveKeepsPrevious() throws {
        let folder = try TemporaryFolder()
        _ = try save(seed: 1, size: 2, into: folder.path)
        let before = FileManager.default.contents(atPath: folder.file("checkpoint.sheaf"))
        let model = try shardedModel(seed: 3)
        // Rank 1 holds a piece outside the global shape.
        let outcomes = onRanks(2) { communicator in
            var mine = try pieces(model, rank: communicator.rank, of: 2)
            if communicator.rank == 1 { mine[0].start[0] += 1 }
            return try DistributedCheckpoint.save(mine, to: folder.path, communicator: communicator)
        }
        for outcome in outcomes {
            #expect(throws: SheafError.self) { try outcome.get() }
            if case .failure(let error) = outcome { #expect("\(error)".contains("rank 1 of 2")) }
        }
        // Rank 1's file cannot be written (its tensor's metadata uses a reserved
        // name, which only the writer checks): rank 0's file is written, then removed.
        let failed = onRanks(2) { communicator in
            var mine = try pieces(model, rank: communicator.rank, of: 2)
            if communicator.rank == 1 { mine[0].tensor.metadata = ["sheaf_reserved": .int(1)] }
            return try DistributedCheckpoint.save(mine, to: folder.path, communicator: communicator)
        }
        for outcome in failed {
            if case .failure(let error) = outcome { #expect("\(error)".contains("rank 1 of 2 could not write")) } else { Issue.record("saved") }
        }
        #expect(FileManager.default.contents(atPath: folder.file("checkpoint.sheaf")) == before)
        #expect(!FileManager.default.fileExists(atPath: folder.file("checkpoint-g00002-rank00000-of-00002.sheaf")))
        #expect(try same(DistributedCheckpoint(path: folder.file("checkpoint.sheaf")).tensor("embed.weight"), shardedModel(seed: 1)[0].tensor))
        // Pieces that leave a gap, overlap, or disagree on a dtype are refused before anything is written.
        for change in ["gap", "overlap", "dtype"] {
            let outcomes = onRanks(2) { communicator in
                var mine = try pieces(model, rank: communicator.rank, of: 2)
                if communicator.rank == 1 {
                    switch change {
                    case "gap": mine[0] = TensorShard(key: mine[0].key, shape: mine[0].shape, start: [52, 0], tensor: try slice(model[0].tensor, [52..<101]))
                    case "overlap": mine[0] = TensorShard(key: mine[0].key, shape: mine[0].shape, start: [50, 0], tensor: try slice(model[0].tensor, [50..<101]))
                    default: mine[0] = TensorShard(key: mine[0].key, shape: mine[0].shape, start: mine[0].start, tensor: try mine[0].tensor.converted(to: .float64))
                    }
                }
                return try DistributedCheckpoint.save(mine, to: folder.path, communicator: communicator)
            }
            for outcome in outcomes { #expect(throws: SheafError.self, "\(change)") { try outcome.get() } }
        }
        #expect(FileManager.default.contents(atPath: folder.file("checkpoint.sheaf")) == before)
    }

    @Test("damaged, missing, replaced or linked shards are errors naming the shard; a slice elsewhere still reads")
    func damagedShards() throws {
        let folder = try TemporaryFolder()
        _ = try save(seed: 5, size: 2, into: folder.path)
        let master = folder.file("checkpoint.sheaf")
        let shard1 = folder.file("checkpoint-g00001-rank00001-of-00002.sheaf")
        // One byte of rank 1's piece of embed.weight (rows 51..<101), in its second 64-byte block.
        let file = try SheafFile(path: shard1)
        let offset = try #require(file.entry("embed.weight").offset) + 100
        let handle = try #require(FileHandle(forUpdatingAtPath: shard1))
        try handle.seek(toOffset: UInt64(offset))
        let byte = try #require(handle.readData(ofLength: 1).first)
        try handle.seek(toOffset: UInt64(offset))
        handle.write(Data([byte ^ 0x40]))
        try handle.close()
        let checkpoint = try DistributedCheckpoint(path: master)
        #expect(throws: SheafError.self) { _ = try checkpoint.tensor("embed.weight") }
        #expect(try same(checkpoint.tensor("embed.weight", slice: [0..<51]), slice(shardedModel(seed: 5)[0].tensor, [0..<51])))
        #expect(try same(checkpoint.tensor("embed.weight", slice: [60..<101]), slice(shardedModel(seed: 5)[0].tensor, [60..<101])))
        let problems = DistributedCheckpoint.verify(path: master)
        #expect(problems.contains { $0.code == .checksumMismatch && $0.key == "embed.weight" && $0.message.contains("checkpoint-g00001-rank00001-of-00002.sheaf") })

        // A shard from another save under the recorded name.
        let elsewhere = try TemporaryFolder()
        _ = try save(seed: 6, size: 2, into: elsewhere.path)
        try FileManager.default.removeItem(atPath: shard1)
        try FileManager.default.copyItem(atPath: elsewhere.file("checkpoint-g00001-rank00001-of-00002.sheaf"), toPath: shard1)
        #expect { _ = try DistributedCheckpoint(path: master) } throws: { ($0 as? SheafError)?.code == .checksumMismatch }
        // A symbolic link to the right file is still refused: only regular files in the folder.
        try FileManager.default.removeItem(atPath: shard1)
        _ = try save(seed: 5, size: 2, into: elsewhere.path)
        try FileManager.default.createSymbolicLink(atPath: shard1, withDestinationPath: elsewhere.file("checkpoint-g00002-rank00001-of-00002.sheaf"))
        #expect { _ = try DistributedCheckpoint(path: master) } throws: { "\($0)".contains("not a regular file") }
        try FileManager.default.removeItem(atPath: shard1)
        #expect { _ = try DistributedCheckpoint(path: master) } throws: { "\($0)".contains("is missing") }
    }

    @Test("a master whose index names files outside its folder, or whose pieces do not tile, is refused before any shard is opened")
    func hostileIndexes() throws {
        let folder = try TemporaryFolder()
        _ = try save(seed: 9, size: 2, into: folder.path)
        let master = folder.file("checkpoint.sheaf")
        let (_, _, metadata, index) = try DistributedCheckpoint.readMaster(master)
        func refused(_ change: (inout DistributedIndex) -> Void, _ expected: String) throws {
            var changed = index
            change(&changed)
            let path = folder.file("hostile.sheaf")
            try DistributedCheckpoint.writeMaster(index, metadata: metadata, algorithm: .xxh3_64, to: path, recording: changed)
            #expect(throws: SheafError.self, "\(expected)") { _ = try DistributedCheckpoint(path: path) }
            do { _ = try DistributedCheckpoint(path: path) } catch { #expect("\(error)".contains(expected), "\(error)") }
        }
        try refused({ $0.distributed.shards[0].file = "../etc/passwd" }, "is not a file name in the master's folder")
        try refused({ $0.distributed.shards[0].file = "/etc/passwd" }, "is not a file name in the master's folder")
        try refused({ $0.distributed.shards[1].file = $0.distributed.shards[0].file }, "listed twice")
        try refused({ $0.tensors[0].pieces[1].start[0] -= 1 }, "overlap")
        try refused({ $0.tensors[0].pieces[1].start[0] += 1 }, "does not lie inside")
        try refused({ $0.tensors[0].pieces.removeLast() }, "cover")
        try refused({ $0.tensors[0].pieces[1].shard = 7 }, "not listed")
        try refused({ $0.tensors[0].pieces[1].shard = 0 }, "two pieces of this tensor")
        try refused({ $0.tensors[2].dtype = "float64" }, "holds float32")
        try refused({ $0.tensors[1].key = $0.tensors[0].key }, "listed twice")
        try refused({ $0.distributed.shards[0].index_checksum = "md5:00" }, "ALGORITHM:HEX")
        try refused({ $0.metadata_checksum = "0000000000000000" }, "metadata checksum")
    }

    @Test("verify compares the master's virtual datasets with its index: a mapping onto another file is reported")
    func virtualDatasetsChecked() throws {
        let folder = try TemporaryFolder()
        _ = try save(seed: 4, size: 2, into: folder.path)
        let master = folder.file("checkpoint.sheaf")
        // A master whose datasets map rank 0's pieces from another file, while its index names the real shards.
        let (_, _, metadata, index) = try DistributedCheckpoint.readMaster(master)
        var changed = index
        changed.distributed.shards[0].file = "elsewhere.sheaf"
        let hostile = folder.file("mapped-elsewhere.sheaf")
        try DistributedCheckpoint.writeMaster(changed, metadata: metadata, algorithm: .xxh3_64, to: hostile, recording: index)
        let problems = DistributedCheckpoint.verify(path: hostile)
        #expect(problems.contains { $0.message.contains("mappings are not the index's pieces") })
        // Loads read the shards the index names, never through the mappings.
        #expect(try same(DistributedCheckpoint(path: hostile).tensor("embed.weight"), shardedModel(seed: 4)[0].tensor))
    }
}

/// One checkpoint of Fixtures/distributed/manifest.json.
struct DistributedFixture: CustomTestStringConvertible, Sendable {
    let record: [String: JSONValue]
    var path: String { record["path"]?.string ?? "" }
    var testDescription: String { path }

    static let all: [DistributedFixture] = {
        guard let data = FileManager.default.contents(atPath: fixturePath("distributed/manifest.json")),
              let manifest = try? JSONDecoder().decode(JSONValue.self, from: data),
              let records = manifest.object?["checkpoints"]?.array else { return [] }
        return records.compactMap { $0.object.map(DistributedFixture.init(record:)) }
    }()
}

@Suite("Distributed checkpoints written by h5py from the spec (Fixtures/distributed)")
struct DistributedConformanceTests {
    @Test("the h5py-written checkpoint loads whole and in slices with the described content, and verifies clean")
    func valid() throws {
        let fixture = try #require(DistributedFixture.all.first { $0.record["valid"]?.bool == true })
        let master = fixturePath("distributed/\(fixture.path)/checkpoint.sheaf")
        let checkpoint = try DistributedCheckpoint(path: master)
        #expect(checkpoint.metadata == ["epoch": .int(3)])
        let tensors = try #require(fixture.record["tensors"]?.array)
        #expect(checkpoint.keys == tensors.compactMap { $0.object?["key"]?.string })
        for expected in tensors.compactMap(\.object) {
            let key = try #require(expected["key"]?.string)
            let tensor = try checkpoint.tensor(key)
            #expect(tensor.dtype.rawValue == expected["dtype"]?.string, "\(key)")
            #expect(tensor.shape.map { Int64($0) } == expected["shape"]?.array?.compactMap(\.int), "\(key)")
            let hex = tensor.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
            #expect(hex == expected["hex"]?.string, "\(key)")
            // The last row (or element) alone, across the pieces.
            if let rows = tensor.shape.first, rows > 0 {
                #expect(same(try checkpoint.tensor(key, slice: [(rows - 1)..<rows]), try slice(tensor, [(rows - 1)..<rows])), "\(key)")
            }
        }
        #expect(DistributedCheckpoint.verify(path: master) == [])
    }

    @Test("each invalid checkpoint is refused with its error", arguments: DistributedFixture.all.filter { $0.record["valid"]?.bool == false })
    func invalid(_ fixture: DistributedFixture) throws {
        let master = fixturePath("distributed/\(fixture.path)/checkpoint.sheaf")
        let expected = try #require(fixture.record["error"]?.string)
        #expect(throws: SheafError.self) { _ = try DistributedCheckpoint(path: master) }
        do { _ = try DistributedCheckpoint(path: master) } catch { #expect(error.message.contains(expected), "\(error)") }
        #expect(DistributedCheckpoint.verify(path: master).contains { $0.message.contains(expected) })
    }
}
