#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import SheafHDF5

extension DistributedCheckpoint {
    /// What each rank tells the others before anything is written.
    private struct Plan: Codable {
        struct Piece: Codable, Equatable {
            var key: String
            var dtype: String
            var shape: [Int]
            var start: [Int]
            var count: [Int]
        }
        /// Why this rank cannot save, when it cannot.
        var error: String?
        var pieces: [Piece]
        /// Rank 0's choice of generation (the shard files' names).
        var generation: Int?
    }

    /// What each rank tells the others once its shard file is written.
    private struct Written: Codable {
        var error: String?
        var indexChecksum: String?
        var tensors: Int?
    }

    /// Saves a checkpoint sharded across the ranks of `communicator`: every
    /// rank calls this with its own pieces (``TensorShard``), and together they
    /// (making `folder` if it is missing, not its parents)
    /// write `folder/NAME-gGGGGG-rankRRRRR-of-NNNNN.sheaf` (one ordinary Sheaf
    /// file per rank, with block checksums as `options` gives, never packed)
    /// and then rank 0
    /// writes the master `folder/NAME.sheaf`, atomically, after every shard
    /// file is durable: the master's rename is the commit point. A save that
    /// fails or is killed before it leaves the previous checkpoint under
    /// `NAME.sheaf` as it was. After the commit, rank 0 removes shard files of
    /// earlier generations of `NAME` that the new master does not name.
    ///
    /// The pieces of each key, over all ranks, must have one dtype and global
    /// shape and cover the tensor exactly once, except that identical pieces
    /// (a replicated tensor) are written once, by the lowest rank holding one.
    /// A rank may hold one piece of a key. The metadata is rank 0's.
    ///
    /// Collective: every rank must call it; every rank returns the master's
    /// path, or every rank throws (naming the rank that failed).
    /// - Complexity: O(bytes of this rank's pieces) per rank, plus
    ///   O(pieces of all ranks) to plan.
    @discardableResult
    public static func save(_ pieces: [TensorShard], metadata: Metadata = [:], to folder: String, name: String = "checkpoint",
                            communicator: some Communicator, options: SaveOptions = .default) throws(SheafError) -> String {
        let masterPath = folder + "/" + name + ".sheaf"
        let rank = communicator.rank, size = communicator.size
        // 1. Plan: every rank's pieces, checked here so every rank reaches the
        //    same decision from the same gathered plans.
        var plan = Plan(error: nil, pieces: [], generation: nil)
        plan.error = localProblem(pieces, name: name, metadata: metadata, masterPath: masterPath)
        // The folder is made if missing (by every rank: they may not share one view of it yet).
        if plan.error == nil, mkdir(folder, 0o755) != 0, errno != EEXIST {
            plan.error = "cannot create the folder \(folder): \(String(cString: strerror(errno)))"
        }
        plan.pieces = pieces.map { Plan.Piece(key: $0.key, dtype: $0.tensor.dtype.rawValue, shape: $0.shape, start: $0.start, count: $0.tensor.shape) }
        if rank == 0 { plan.generation = nextGeneration(folder: folder, name: name) }
        let plans: [Plan] = try exchange(plan, communicator, file: masterPath)
        if let (failed, message) = plans.enumerated().first(where: { $0.element.error != nil }).map({ ($0.offset, $0.element.error!) }) {
            throw SheafError(.invalidArgument, file: masterPath, "rank \(failed) of \(size) cannot save: \(message)")
        }
        guard let generation = plans[0].generation else {
            throw SheafError(.io, file: masterPath, "rank 0 did not choose a generation")
        }
        let (index, owned) = try layout(plans, file: masterPath)

        // 2. Each rank writes its own shard file.
        func five(_ n: Int) -> String { let digits = String(n); return String(repeating: "0", count: max(0, 5 - digits.count)) + digits }
        let shardNames = (0..<size).map { "\(name)-g\(five(generation))-rank\(five($0))-of-\(five(size)).sheaf" }
        let shardPath = folder + "/" + shardNames[rank]
        var written = Written()
        do throws(SheafError) {
            let mine = owned[rank].map { pieces[$0] }
            // The master's virtual datasets map whole datasets of /tensors: no packing (§17).
            var shardOptions = options
            shardOptions.packingThreshold = nil
            try SheafWriter.write(kind: .dict, keys: mine.map(\.key), tiedTo: mine.map { _ in nil }, metadata: [:],
                                  to: shardPath, options: shardOptions) { (i: Int) throws(SheafError) -> Tensor in mine[i].tensor }
            let file = try SheafFile(path: shardPath)
            written.indexChecksum = ShardChecksum(algorithm: file.checksumAlgorithm, value: file.indexChecksum).text
            written.tensors = file.entries.count
        } catch {
            written.error = error.description
        }
        let reports: [Written] = try exchange(written, communicator, file: masterPath)
        if let failed = reports.firstIndex(where: { $0.error != nil || $0.indexChecksum == nil }) {
            unlink(shardPath)
            throw SheafError(.io, file: masterPath, "rank \(failed) of \(size) could not write its shard file: \(reports[failed].error ?? "no report")")
        }

        // 3. Rank 0 publishes the master: the commit point.
        var committed = Written()
        if rank == 0 {
            var document = index
            document.distributed.shards = zip(shardNames, reports).map {
                SheafSet.Document.ShardRecord(file: $0, index_checksum: $1.indexChecksum ?? "", tensors: $1.tensors ?? 0)
            }
            document.metadata_checksum = MetadataDigest.checksum(metadata, options.checksum)
            do throws(SheafError) {
                try writeMaster(document, metadata: metadata, algorithm: options.checksum, to: masterPath)
                removeEarlierGenerations(folder: folder, name: name, keeping: Set(shardNames))
            } catch {
                committed.error = error.description
            }
        }
        let outcome: [Written] = try exchange(committed, communicator, file: masterPath)
        if let message = outcome[0].error {
            unlink(shardPath)
            throw SheafError(.io, file: masterPath, "rank 0 could not write the master: \(message)")
        }
        return masterPath
    }

    /// Why this rank's pieces cannot be saved, checked before any rank writes.
    private static func localProblem(_ pieces: [TensorShard], name: String, metadata: Metadata, masterPath: String) -> String? {
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 < 0x80 && (isalnum(Int32($0)) != 0 || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")) }),
              !name.hasPrefix(".") else {
            return "the checkpoint name '\(name)' must be letters, digits, '_', '-' and '.', not starting with '.'"
        }
        var keys: Set<String> = []
        for piece in pieces {
            do { _ = try FormatLayout.linkName(for: piece.key) } catch { return error.description }
            guard keys.insert(piece.key).inserted else { return "key '\(piece.key)': two pieces on one rank" }
            let shape = piece.shape, start = piece.start, count = piece.tensor.shape
            guard start.count == shape.count, count.count == shape.count,
                  zip(zip(start, count), shape).allSatisfy({ $0.0 >= 0 && $0.0 <= $1 - $0.1 }) else {
                return "key '\(piece.key)': a piece of shape \(count) at \(start) does not lie inside the global shape \(shape)"
            }
        }
        do { try SheafWriter.validate(metadata, file: masterPath, key: nil) } catch { return error.description }
        return nil
    }

    /// The master's index for the gathered plans, and for each rank which of
    /// its pieces it writes (a piece another lower rank holds identically is
    /// written by that rank).
    private static func layout(_ plans: [Plan], file: String) throws(SheafError) -> (DistributedIndex, [[Int]]) {
        var order: [String] = []
        var tensors: [String: DistributedIndex.TensorRecord] = [:]
        var owned: [[Int]] = plans.map { _ in [] }
        for (rank, plan) in plans.enumerated() {
            for (number, piece) in plan.pieces.enumerated() {
                if var tensor = tensors[piece.key] {
                    guard tensor.dtype == piece.dtype, tensor.shape == piece.shape else {
                        throw SheafError(.invalidArgument, file: file, key: piece.key,
                                         "rank \(rank) holds a piece of a \(piece.dtype) tensor of shape \(piece.shape); an earlier rank's is \(tensor.dtype) \(tensor.shape)")
                    }
                    if tensor.pieces.contains(where: { $0.start == piece.start && $0.count == piece.count }) { continue }
                    tensor.pieces.append(.init(shard: rank, start: piece.start, count: piece.count))
                    tensors[piece.key] = tensor
                } else {
                    order.append(piece.key)
                    tensors[piece.key] = .init(key: piece.key, dtype: piece.dtype, shape: piece.shape,
                                               pieces: [.init(shard: rank, start: piece.start, count: piece.count)])
                }
                owned[rank].append(number)
            }
        }
        let list = order.compactMap { tensors[$0] }
        for tensor in list { try DistributedIndex.checkTiling(tensor, file: file, shardCount: plans.count) }
        // Every rank writes its pieces in the global order of keys.
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        owned = owned.enumerated().map { rank, numbers in
            numbers.sorted { position[plans[rank].pieces[$0].key, default: 0] < position[plans[rank].pieces[$1].key, default: 0] }
        }
        let index = DistributedIndex(distributed: .init(version: version, world_size: plans.count, shards: []),
                                     metadata_checksum: "", tensors: list)
        return (index, owned)
    }

    /// Sends `value` to every rank and returns every rank's, in rank order.
    private static func exchange<T: Codable>(_ value: T, _ communicator: some Communicator, file: String) throws(SheafError) -> [T] {
        let bytes: [UInt8]
        do { bytes = Array(try JSONEncoder().encode(value)) } catch {
            throw SheafError(.invalidArgument, file: file, "cannot encode a message to the other ranks")
        }
        let gathered = try communicator.allgather(bytes)
        guard gathered.count == communicator.size else {
            throw SheafError(.io, file: file, "the communicator gave \(gathered.count) messages for \(communicator.size) ranks")
        }
        var values: [T] = []
        for (rank, message) in gathered.enumerated() {
            do { values.append(try JSONDecoder().decode(T.self, from: Data(message))) } catch {
                throw SheafError(.io, file: file, "rank \(rank)'s message is not readable")
            }
        }
        return values
    }

    /// The shard files of checkpoint `name` in `folder`,
    /// `NAME-gGGGGG-rankRRRRR-of-NNNNN.sheaf`, with their generation; with
    /// `temporaries`, also the temporary files of interrupted writes of them
    /// and of the master (generation 0).
    static func shardFiles(folder: String, name: String, temporaries: Bool = false) -> [(file: String, generation: Int)] {
        guard let directory = opendir(folder) else { return [] }
        defer { closedir(directory) }
        var found: [(String, Int)] = []
        let prefix = name + "-g", master = AtomicFile.temporaryPrefix + name + ".sheaf-"
        while let item = readdir(directory) {
            let file = withUnsafeBytes(of: item.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if temporaries, file.hasPrefix(master) {
                found.append((file, 0))
                continue
            }
            var rest = Substring(file)
            if temporaries, rest.hasPrefix(AtomicFile.temporaryPrefix) { rest = rest.dropFirst(AtomicFile.temporaryPrefix.count) }
            else if !file.hasSuffix(".sheaf") { continue }
            guard rest.hasPrefix(prefix) else { continue }
            rest = rest.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let generation = Int(rest[..<dash]), generation >= 0,
                  rest[dash...].hasPrefix("-rank") else { continue }
            found.append((file, generation))
        }
        return found
    }

    /// One more than the highest generation of `name`'s shard files in
    /// `folder` (1 for the first): a new save never overwrites a file the
    /// current master names, and the same save into an empty folder gives
    /// the same files.
    private static func nextGeneration(folder: String, name: String) -> Int {
        (shardFiles(folder: folder, name: name).map(\.generation).max() ?? 0) + 1
    }

    /// Removes `name`'s shard files not in `keeping` (earlier checkpoints, and
    /// saves killed before their commit) and the temporary files interrupted
    /// saves left. Saving one checkpoint name from two jobs at once is not
    /// supported: this would remove the other's files in progress.
    private static func removeEarlierGenerations(folder: String, name: String, keeping: Set<String>) {
        for (file, _) in shardFiles(folder: folder, name: name, temporaries: true) where !keeping.contains(file) {
            unlink(folder + "/" + file)
        }
    }

    /// Writes the master file: §2's root attributes with kind `distributed`,
    /// the metadata, one virtual dataset per tensor mapping its pieces from the
    /// shard files, and the index. Atomically. `recorded` (tests only) is an
    /// index to record instead of the one the datasets are made from.
    static func writeMaster(_ index: DistributedIndex, metadata: Metadata, algorithm: ChecksumAlgorithm, to path: String,
                            recording recorded: DistributedIndex? = nil) throws(SheafError) {
        let json: [UInt8]
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            json = Array(try encoder.encode(recorded ?? index))
        } catch { throw SheafError(.invalidArgument, file: path, "cannot encode the distributed index") }
        do {
            try AtomicFile.write(to: path, replace: true) { temporary in
                let file = try hdf5(path) { () throws(HDF5Error) in try HDF5File.create(path: temporary, alignment: FormatLayout.alignment) }
                let root = try hdf5(path) { () throws(HDF5Error) in try file.root() }
                try hdf5(path) { () throws(HDF5Error) in
                    try root.attributes.write(.string(FormatLayout.formatName), name: FormatLayout.formatAttribute)
                    try root.attributes.write(.string(kindName), name: FormatLayout.kindAttribute)
                    try root.attributes.write(.string(algorithm.rawValue), name: FormatLayout.checksumAttribute)
                    try root.attributes.write(.string(version), name: FormatLayout.versionAttribute)
                    try SheafWriter.writeMetadata(metadata, on: root.attributes)
                }
                let group = try hdf5(path) { () throws(HDF5Error) in try root.createGroup(FormatLayout.tensorsGroup) }
                for tensor in index.tensors {
                    let link = try FormatLayout.linkName(for: tensor.key)
                    let dtype = DType.named[tensor.dtype] ?? .uint8
                    let mappings = tensor.pieces.filter { $0.count.reduce(1, *) > 0 }.map {
                        HDF5VirtualMapping(file: index.distributed.shards[$0.shard].file,
                                           dataset: "/\(FormatLayout.tensorsGroup)/\(link)", start: $0.start, count: $0.count)
                    }
                    try hdf5(path, key: tensor.key) { () throws(HDF5Error) in
                        let dataset = try HDF5Dataset.createVirtual(in: group, name: link, type: try dtype.hdf5Type(),
                                                                    shape: tensor.shape, mappings: mappings)
                        try dataset.attributes.write(.string(dtype.rawValue), name: FormatLayout.dtypeAttribute)
                        try dataset.close()
                    }
                }
                try hdf5(path) { () throws(HDF5Error) in
                    let byteType = try HDF5Datatype.int(bits: 8, signed: false)
                    let bytes = Tensor(json)
                    let dataset = try HDF5Dataset.create(in: root, name: FormatLayout.indexDataset, type: byteType,
                                                         shape: [json.count], storage: .contiguous, data: bytes.storage.bytes)
                    try dataset.close()
                }
                do throws(HDF5Error) {
                    try group.close()
                    try root.close()
                    try file.close()
                } catch {
                    throw SheafError.hdf5(error, file: path)
                }
            }
        } catch let error as SheafError { throw error } catch { throw SheafError(.io, file: path, "\(error)") }
    }
}
