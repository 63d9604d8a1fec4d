import Glibc
import SheafHDF5

/// A checkpoint saved in pieces by many processes (ranks), Spec/FORMAT.md §17:
/// one ordinary Sheaf file per rank holding that rank's pieces (the shards),
/// and a master file that names them, says where each piece lies in its
/// global tensor, and maps every global tensor onto the pieces with HDF5
/// virtual datasets, so `h5py.File(master)["tensors"][key][()]` reads the
/// whole tensor.
///
/// Opening reads the master's index and every shard's own index (no tensor
/// data) and checks each shard is the file the checkpoint was saved with (by
/// its index checksum). Reads go to the shards, never through the master's
/// virtual datasets: a slice reads only the bytes of the pieces it overlaps,
/// verified with the shards' (block) checksums, so any number of processes
/// can each load their own part with any sharding.
///
/// The master may name other files only because it declares itself a
/// distributed checkpoint, and only plain file names in its own folder that
/// are regular files (not symbolic links); `SheafFile` still refuses every
/// virtual dataset.
public final class DistributedCheckpoint {
    /// The `sheaf_kind` of a master file.
    public static let kindName = "distributed"
    /// The format version a master declares.
    public static let version = "1.3"

    /// Where one piece of a global tensor lies: the block
    /// `start[d] ..< start[d] + count[d]` along each dimension `d`, held whole
    /// by shard `shard` under the tensor's key.
    public struct Piece: Sendable, Equatable {
        public var shard: Int
        public var start: [Int]
        public var count: [Int]
    }

    /// One global tensor.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var dtype: DType
        public var shape: [Int]
        public var pieces: [Piece]
    }

    /// The master file's path.
    public let path: String
    /// The version the master declares.
    public let version: String
    /// How many ranks saved it.
    public let worldSize: Int
    public let checksumAlgorithm: ChecksumAlgorithm
    /// The checkpoint's metadata (the master's root attributes).
    public let metadata: Metadata
    /// Every global tensor, in the master's order.
    public let entries: [Entry]
    /// Each shard file's name, in the master's order (rank order as saved).
    public let shardNames: [String]
    let shards: [SheafSet.Shard]
    let positions: [String: Int]

    /// The keys in order.
    public var keys: [String] { entries.map(\.key) }

    /// Opens the checkpoint whose master is at `path`.
    /// - Throws: ``SheafError``: the master's own errors (`notSheaf`,
    ///   `invalidIndex`, …), `invalidFile` naming a shard that is missing, not
    ///   a regular file or not holding a piece the master places there,
    ///   `checksumMismatch` for a shard that is not the one saved, and the
    ///   shards' own errors.
    /// - Complexity: O(keys + pieces); no tensor data is read.
    public init(path: String) throws(SheafError) {
        let master = try Self.readMaster(path)
        let index = master.index
        let folder = Self.folder(of: path)
        var shards: [SheafSet.Shard] = []
        for record in index.distributed.shards {
            let shardPath = folder + "/" + record.file
            var info = stat()
            guard lstat(shardPath, &info) == 0 else {
                throw SheafError(.invalidFile, file: path, "shard \(record.file) is missing: the checkpoint is incomplete")
            }
            guard info.st_mode & S_IFMT == S_IFREG else {
                throw SheafError(.invalidFile, file: path, "shard \(record.file) is not a regular file (a symbolic link or other); a distributed checkpoint reads only regular files in its master's folder")
            }
            let file = try SheafFile(path: shardPath)
            guard let recorded = ShardChecksum(record.index_checksum),
                  recorded == ShardChecksum(algorithm: file.checksumAlgorithm, value: file.indexChecksum) else {
                throw SheafError(.checksumMismatch, file: path,
                                 "shard \(record.file) is not the file this checkpoint was saved with (its index does not match the recorded checksum \(record.index_checksum))")
            }
            guard file.entries.count == record.tensors else {
                throw SheafError(.invalidFile, file: path, "shard \(record.file) holds \(file.entries.count) tensors, the master says \(record.tensors)")
            }
            shards.append(SheafSet.Shard(file))
        }
        var entries: [Entry] = []
        entries.reserveCapacity(index.tensors.count)
        var positions: [String: Int] = [:]
        var placed = [Int](repeating: 0, count: shards.count)
        for tensor in index.tensors {
            // DistributedIndex.parse checked the dtype name.
            let dtype = DType.named[tensor.dtype] ?? .uint8
            var seen: Set<Int> = []
            for piece in tensor.pieces {
                let name = index.distributed.shards[piece.shard].file
                guard seen.insert(piece.shard).inserted else {
                    throw SheafError(.invalidIndex, file: path, key: tensor.key, "two pieces of this tensor in shard \(name); a shard holds one piece of a tensor")
                }
                guard let local = try? shards[piece.shard].file.entry(tensor.key) else {
                    throw SheafError(.invalidFile, file: path, key: tensor.key, "the master places a piece in shard \(name), which does not hold this key")
                }
                guard local.dtype == dtype, local.shape == piece.count else {
                    throw SheafError(.invalidFile, file: path, key: tensor.key,
                                     "shard \(name) holds \(local.dtype) \(local.shape), the master's piece is \(dtype) \(piece.count)")
                }
                placed[piece.shard] += 1
            }
            positions[tensor.key] = entries.count
            entries.append(Entry(key: tensor.key, dtype: dtype, shape: tensor.shape,
                                 pieces: tensor.pieces.map { Piece(shard: $0.shard, start: $0.start, count: $0.count) }))
        }
        for (number, count) in placed.enumerated() where count != shards[number].file.entries.count {
            throw SheafError(.invalidFile, file: path, "shard \(index.distributed.shards[number].file) holds tensors the master does not place")
        }
        self.path = path
        version = master.version
        worldSize = index.distributed.world_size
        checksumAlgorithm = master.algorithm
        metadata = master.metadata
        self.entries = entries
        self.positions = positions
        self.shards = shards
        shardNames = index.distributed.shards.map(\.file)
    }

    /// The folder of the master at `path`. A master read through an open
    /// descriptor (`/proc/self/fd/N`, as the `sheaf` command reads its inputs)
    /// has its shards in the folder of the file that descriptor has open.
    static func folder(of path: String) -> String {
        if path.hasPrefix("/proc/self/fd/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(path, &buffer, buffer.count - 1)
            if length > 0 {
                let target = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if target.hasPrefix("/") { return AtomicFile.split(target).0 }
            }
        }
        return AtomicFile.split(path).0
    }

    /// Whether `path` is a Sheaf file whose kind says it is a distributed
    /// checkpoint's master. Reads only the root attributes.
    public static func isMaster(path: String) -> Bool {
        guard let (handle, size) = try? FileDescriptor.openRegularFile(path) else { return false }
        defer { handle.close() }
        guard handle.hasHDF5Signature(size: size),
              let file = try? HDF5File.open(path: Platform.path(of: handle)),
              let root = try? file.root(),
              (try? root.attributes.names().contains(FormatLayout.kindAttribute)) == true else { return false }
        let value = try? root.attributes.read(FormatLayout.kindAttribute)
        guard case .string(let kind)? = value ?? nil else { return false }
        return kind == kindName
    }

    /// The master's declared version, checksum algorithm, metadata and index,
    /// checked (the metadata against the index's metadata checksum).
    static func readMaster(_ path: String) throws(SheafError)
        -> (version: String, algorithm: ChecksumAlgorithm, metadata: Metadata, index: DistributedIndex) {
        let (handle, fileSize) = try FileDescriptor.openRegularFile(path)
        defer { handle.close() }
        guard handle.hasHDF5Signature(size: fileSize) else {
            throw SheafError(.notHDF5, file: path, "not an HDF5 file (no HDF5 signature found)")
        }
        let file = try hdf5(path) { () throws(HDF5Error) in try HDF5File.open(path: Platform.path(of: handle)) }
        let root = try hdf5(path) { () throws(HDF5Error) in try file.root() }
        let header = try SheafFile.readHeader(root, path: path)
        guard header.kind == kindName else {
            throw SheafError(.invalidFile, file: path, "not the master of a distributed checkpoint (its kind is '\(header.kind)', not '\(kindName)')")
        }
        let index = try DistributedIndex.parse(try SheafFile.readIndexBytes(root, path: path), path: path)
        guard let recorded = header.algorithm.parse(index.metadata_checksum) else {
            throw SheafError(.invalidIndex, file: path, "metadata_checksum '\(index.metadata_checksum)' is not a \(header.algorithm.rawValue) hex value")
        }
        guard MetadataDigest.encode(header.metadata).withUnsafeBytes({ header.algorithm.digest($0) }) == recorded else {
            throw SheafError(.checksumMismatch, file: path,
                             "file metadata checksum mismatch: the metadata attributes do not match the index's \(header.algorithm.rawValue) checksum \(index.metadata_checksum)")
        }
        return (header.version, header.algorithm, header.metadata, index)
    }

    /// The entry of `key`.
    public func entry(_ key: String) throws(SheafError) -> Entry {
        guard let position = positions[key] else {
            throw SheafError(.keyNotFound, file: path, key: key, "no such key; the checkpoint has \(entries.count) keys")
        }
        return entries[position]
    }

    /// The whole global tensor of `key`, assembled from its pieces.
    /// - Complexity: O(bytes of the tensor).
    public func tensor(_ key: String, verifyChecksum: Bool = true) throws(SheafError) -> Tensor {
        try tensor(key, slice: [], verifyChecksum: verifyChecksum)
    }

    /// Part of the global tensor of `key` (ranges per dimension as in
    /// ``SheafFile/tensor(_:slice:verifyChecksum:)``; trailing dimensions
    /// whole): each piece it overlaps is sliced from its shard, reading only
    /// the blocks that overlap holds and verifying each.
    /// - Complexity: O(bytes of the slice + blocks of the pieces it touches).
    public func tensor(_ key: String, slice ranges: [Range<Int>], verifyChecksum: Bool = true) throws(SheafError) -> Tensor {
        let entry = try entry(key)
        let layout = try TensorSlice(shape: entry.shape, ranges: ranges, itemSize: entry.dtype.itemSize, file: path, key: key)
        // A tensor held whole by one shard (a replicated one) is that shard's slice.
        if let piece = entry.pieces.first, piece.count == entry.shape {
            return try shards[piece.shard].file.tensor(key, slice: layout.ranges, verifyChecksum: verifyChecksum)
        }
        let output = TensorStorage(uninitialized: layout.outputBytes)
        guard layout.outputBytes > 0 else { return Tensor(dtype: entry.dtype, shape: layout.outputShape, storage: output) }
        for piece in entry.pieces {
            var local: [Range<Int>] = [], placement: [Range<Int>] = []
            for (dimension, range) in layout.ranges.enumerated() {
                let low = max(range.lowerBound, piece.start[dimension])
                let high = min(range.upperBound, piece.start[dimension] + piece.count[dimension])
                guard low < high else { break }
                local.append((low - piece.start[dimension])..<(high - piece.start[dimension]))
                placement.append((low - range.lowerBound)..<(high - range.lowerBound))
            }
            guard local.count == entry.shape.count else { continue }  // no overlap
            let part = try shards[piece.shard].file.tensor(key, slice: local, verifyChecksum: verifyChecksum)
            let place = try TensorSlice(shape: layout.outputShape, ranges: placement, itemSize: entry.dtype.itemSize, file: path, key: key)
            part.withUnsafeBytes { place.scatter(from: $0, into: output.mutableBytes) }
        }
        return Tensor(dtype: entry.dtype, shape: layout.outputShape, storage: output)
    }

    /// Every global tensor, in order, with the checkpoint's metadata.
    /// - Complexity: O(total bytes) time and memory.
    public func stateDict(verifyChecksums: Bool = true) throws(SheafError) -> StateDict {
        var stateDict = StateDict()
        for entry in entries { stateDict[entry.key] = try tensor(entry.key, verifyChecksum: verifyChecksums) }
        stateDict.metadata = metadata
        return stateDict
    }
}
