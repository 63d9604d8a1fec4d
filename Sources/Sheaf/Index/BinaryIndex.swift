import Glibc
import SheafHDF5

/// The binary index of Spec/FORMAT.md §8.2 (version 1.5): the entries of the
/// JSON index (§8) as fixed 64-byte records in a compound dataset, with the
/// keys, dimensions and block checksums each in one flat dataset, under
/// ``FormatLayout/binaryIndexGroup``. Reading it costs a few HDF5 calls and
/// one pass over ~100 bytes per tensor, with no text to scan or hex to parse:
/// what lets a file of 10,000 tensors open in about a millisecond. The JSON
/// index stays the file's index for every other reader; a verifier checks
/// that both say the same.
enum BinaryIndex {
    /// The datasets and attributes of the group.
    static let entriesDataset = "entries"
    static let keysDataset = "keys"
    static let shapesDataset = "shapes"
    static let blocksDataset = "block_checksums"
    static let structureDataset = "structure"
    static let indexChecksumAttribute = "index_checksum"
    static let metadataChecksumAttribute = "metadata_checksum"

    static let recordSize = 64
    /// The `dtype` enumeration's names, value 0 first (§8.2).
    static let dtypes: [DType] = [.bool, .uint8, .uint16, .uint32, .uint64, .int8, .int16, .int32, .int64,
                                  .float16, .bfloat16, .float32, .float64, .complex64, .complex128,
                                  .float8_e4m3fn, .float8_e5m2]
    /// The `storage` enumeration's names, value 0 first.
    static let storages: [StorageKind] = [.contiguous, .deflate, .packed]
    /// `flags`: bit 0, the tensor has metadata; bit 1, `metadata_checksum` is recorded.
    static let metadataFlag: UInt8 = 1, metadataChecksumFlag: UInt8 = 2

    /// The record's compound type (§8.2's table), little-endian.
    static func recordType() throws(HDF5Error) -> HDF5Datatype {
        try .compound(size: recordSize, members: [
            HDF5CompoundMember("nbytes", at: 0, .integer(bits: 64, signed: true)),
            HDF5CompoundMember("offset", at: 8, .integer(bits: 64, signed: true)),
            HDF5CompoundMember("checksum", at: 16, .integer(bits: 64, signed: false)),
            HDF5CompoundMember("metadata_checksum", at: 24, .integer(bits: 64, signed: false)),
            HDF5CompoundMember("block_size", at: 32, .integer(bits: 64, signed: true)),
            HDF5CompoundMember("arena_start", at: 40, .integer(bits: 64, signed: true)),
            HDF5CompoundMember("key_length", at: 48, .integer(bits: 32, signed: false)),
            HDF5CompoundMember("tied_to", at: 52, .integer(bits: 32, signed: true)),
            HDF5CompoundMember("arena", at: 56, .integer(bits: 32, signed: true)),
            HDF5CompoundMember("dtype", at: 60, .enumeration(dtypes.map(\.rawValue))),
            HDF5CompoundMember("storage", at: 61, .enumeration(storages.map(\.rawValue))),
            HDF5CompoundMember("rank", at: 62, .integer(bits: 8, signed: false)),
            HDF5CompoundMember("flags", at: 63, .integer(bits: 8, signed: false)),
        ])
    }

    // MARK: Writing

    /// Writes the binary index of `entries` (complete: checksums and
    /// placements filled in) into `root`. `json` is the JSON index's bytes,
    /// whose checksum the group records.
    static func write(_ entries: [IndexEntry], metadataChecksum: String?, structure: CheckpointNode?, json: [UInt8],
                      algorithm: ChecksumAlgorithm, in root: borrowing HDF5Group, file: String) throws(SheafError) {
        var records = [UInt8](repeating: 0, count: entries.count * recordSize)
        var keys: [UInt8] = [], shapes: [Int64] = [], blocks: [UInt64] = []
        var positions: [String: Int32] = Dictionary(minimumCapacity: entries.count)
        let dtypeCodes = Dictionary(uniqueKeysWithValues: dtypes.enumerated().map { ($1.rawValue, UInt8($0)) })
        let storageCodes = Dictionary(uniqueKeysWithValues: storages.enumerated().map { ($1.rawValue, UInt8($0)) })
        func checksum(_ text: String, key: String) throws(SheafError) -> UInt64 {
            guard let value = algorithm.parse(text) else {
                throw SheafError(.invalidIndex, file: file, key: key, "checksum '\(text)' is not a \(algorithm.rawValue) hex value")
            }
            return value
        }
        for (position, entry) in entries.enumerated() {
            guard let dtype = dtypeCodes[entry.dtype], let storage = storageCodes[entry.storage],
                  entry.key.utf8.count <= Int(UInt32.max), entry.shape.count <= Shape.maxRank else {
                throw SheafError(.invalidIndex, file: file, key: entry.key, "an index entry the binary index cannot hold")
            }
            var tie: Int32 = -1
            if let owner = entry.tied_to {
                guard let found = positions[owner] else {
                    throw SheafError(.invalidIndex, file: file, key: entry.key, "tied to '\(owner)', which is not an earlier key")
                }
                tie = found
            }
            positions[entry.key] = Int32(position)
            var flags: UInt8 = entry.metadata ? metadataFlag : 0
            var metadataChecksum: UInt64 = 0
            if let text = entry.metadata_checksum {
                flags |= metadataChecksumFlag
                metadataChecksum = try checksum(text, key: entry.key)
            }
            let whole = try checksum(entry.checksum, key: entry.key)
            for text in entry.block_checksums ?? [] { blocks.append(try checksum(text, key: entry.key)) }
            keys.append(contentsOf: entry.key.utf8)
            shapes.append(contentsOf: entry.shape.map { Int64($0) })
            records.withUnsafeMutableBytes { raw in
                let base = position * recordSize
                func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
                    raw.storeBytes(of: value.littleEndian, toByteOffset: base + offset, as: T.self)
                }
                put(Int64(entry.nbytes), 0)
                put(Int64(entry.offset ?? -1), 8)
                put(whole, 16)
                put(metadataChecksum, 24)
                put(Int64(entry.block_size ?? 0), 32)
                put(Int64(entry.arena_start ?? -1), 40)
                put(UInt32(entry.key.utf8.count), 48)
                put(tie, 52)
                put(Int32(entry.arena ?? -1), 56)
                put(dtype, 60)
                put(storage, 61)
                put(UInt8(entry.shape.count), 62)
                put(flags, 63)
            }
        }
        let structureBytes = try structure.map { (node) throws(SheafError) in try JSON.encode(node) }
        try hdf5(file) { () throws(HDF5Error) in
            let group = try root.createGroup(FormatLayout.binaryIndexGroup)
            try group.attributes.write(.string(algorithm.format(json.withUnsafeBytes { algorithm.digest($0) })),
                                       name: indexChecksumAttribute)
            if let metadataChecksum {
                try group.attributes.write(.string(metadataChecksum), name: metadataChecksumAttribute)
            }
            try flat(records, entriesDataset, count: entries.count, in: group, type: recordType)
            try flat(keys, keysDataset, count: keys.count, in: group) { () throws(HDF5Error) in try .int(bits: 8, signed: false) }
            try flat(shapes, shapesDataset, count: shapes.count, in: group) { () throws(HDF5Error) in try .int(bits: 64, signed: true) }
            try flat(blocks, blocksDataset, count: blocks.count, in: group) { () throws(HDF5Error) in try .int(bits: 64, signed: false) }
            if let structureBytes {
                try flat(structureBytes, structureDataset, count: structureBytes.count, in: group) { () throws(HDF5Error) in
                    try .int(bits: 8, signed: false)
                }
            }
            try group.close()
        }
    }

    /// Writes `values` as the 1-d dataset `name` of `count` elements of `type`.
    private static func flat<T>(_ values: [T], _ name: String, count: Int, in group: borrowing HDF5Group,
                                type: () throws(HDF5Error) -> HDF5Datatype) throws(HDF5Error) {
        let memoryType = try type()
        try values.withUnsafeBufferPointer { (buffer) throws(HDF5Error) in
            try HDF5Dataset.create(in: group, name: name, type: memoryType, shape: [count], storage: .contiguous,
                                   data: UnsafeRawBufferPointer(buffer)).close()
        }
    }

    // MARK: Reading

    /// Whether `root` has a binary index.
    static func isPresent(in root: borrowing HDF5Group, path: String) throws(SheafError) -> Bool {
        try hdf5(path) { () throws(HDF5Error) in try root.contains(FormatLayout.binaryIndexGroup) }
    }

    /// Reads and checks the binary index under `root`: every record by the
    /// rules the JSON index's entries follow (§8, through ``IndexValidator``),
    /// and the rules of §8.2 (types, lengths, every byte of the flat datasets
    /// used exactly once). The checksum of the JSON index is the one the
    /// group records (a verifier checks it).
    /// - Complexity: O(number of tensors + bytes of keys, dimensions and block checksums).
    static func read(_ root: borrowing HDF5Group, kind: SheafKind, algorithm: ChecksumAlgorithm,
                     fileSize: Int, path: String) throws(SheafError) -> SheafFile.CheckedIndex {
        func invalid(_ message: String, key: String? = nil) -> SheafError { problem(message, key: key, path: path) }
        let group = try hdf5(path) { () throws(HDF5Error) in try root.openGroup(FormatLayout.binaryIndexGroup) }
        // The group's attributes: the JSON's checksum, and the file metadata's when recorded.
        func checksumAttribute(_ attribute: String) throws(SheafError) -> UInt64? {
            guard try hdf5(path, { () throws(HDF5Error) in try group.attributes.exists(attribute) }) else { return nil }
            guard case .string(let text)? = try hdf5(path, { () throws(HDF5Error) in try group.attributes.read(attribute) }),
                  let value = algorithm.parse(text) else {
                throw invalid("attribute \(attribute) is not a \(algorithm.rawValue) hex string")
            }
            return value
        }
        guard let indexChecksum = try checksumAttribute(indexChecksumAttribute) else {
            throw invalid("missing attribute \(indexChecksumAttribute)")
        }
        let metadataChecksum = try checksumAttribute(metadataChecksumAttribute)

        // The records are read 1,024 at a time into one 64 KiB buffer: a whole
        // 10,000-record read into fresh memory cost more in page faults than
        // the reads themselves, and a buffer under glibc's 128 KiB mmap
        // threshold is reused from the heap rather than faulted in afresh.
        let recordMemoryType = try hdf5(path) { () throws(HDF5Error) in try recordType() }
        let records = try checked(group, entriesDataset, type: recordMemoryType, limit: FormatLayout.maxTensors, fileSize: fileSize, path: path)
        let count = try hdf5(path) { () throws(HDF5Error) in
            _ = try records.checkReadable()
            return try records.shape()?.first ?? 0
        }
        let keys = try array(group, keysDataset, of: UInt8.self, elementSize: 1, limit: FormatLayout.maxIndexBytes, fileSize: fileSize, path: path) { () throws(HDF5Error) in
            try .int(bits: 8, signed: false)
        }
        let dimensions = try array(group, shapesDataset, of: Int.self, elementSize: 8, limit: FormatLayout.maxIndexBytes / 8, fileSize: fileSize, path: path) { () throws(HDF5Error) in
            try .int(bits: 64, signed: true)
        }
        let blocks = try array(group, blocksDataset, of: UInt64.self, elementSize: 8, limit: FormatLayout.maxIndexBytes / 8, fileSize: fileSize, path: path) { () throws(HDF5Error) in
            try .int(bits: 64, signed: false)
        }
        var structure: CheckpointNode?
        if try hdf5(path, { () throws(HDF5Error) in try group.contains(structureDataset) }) {
            let text = try array(group, structureDataset, of: UInt8.self, elementSize: 1, limit: FormatLayout.maxIndexBytes, fileSize: fileSize, path: path) { () throws(HDF5Error) in
                try .int(bits: 8, signed: false)
            }
            guard let value = JSONReader.value(of: text), let node = CheckpointNode.parse(value) else {
                throw invalid("\(structureDataset) is not a checkpoint structure (§8.1)")
            }
            structure = node
        }

        let table = try decode(count: count, keys: keys, dimensions: dimensions, blocks: blocks,
                               kind: kind, algorithm: algorithm, fileSize: fileSize, path: path) { (rows, bytes) throws(SheafError) in
            try hdf5(path) { () throws(HDF5Error) in try records.read(rows: rows, into: bytes, as: recordMemoryType) }
        }
        return SheafFile.CheckedIndex(table: table, structure: structure, metadataChecksum: metadataChecksum, indexChecksum: indexChecksum)
    }

    /// An `invalidIndex` error about the binary index of the file at `path`.
    private static func problem(_ message: String, key: String?, path: String) -> SheafError {
        SheafError(.invalidIndex, file: path, key: key, "binary index /\(FormatLayout.binaryIndexGroup): \(message)")
    }

    /// Checks `count` records (which `readRecords` copies, a slice of rows at
    /// a time, into the buffer it is given) with the keys, dimensions and
    /// block checksums they use, and builds the table: the part of reading a
    /// binary index that is not libhdf5 (what the fuzz target runs).
    static func decode(count: Int, keys: [UInt8], dimensions: [Int], blocks: [UInt64], kind: SheafKind, algorithm: ChecksumAlgorithm,
                       fileSize: Int, path: String,
                       readRecords: (Range<Int>, UnsafeMutableRawBufferPointer) throws(SheafError) -> Void) throws(SheafError) -> IndexTable {
        func invalid(_ message: String, key: String? = nil) -> SheafError { problem(message, key: key, path: path) }
        var validator = IndexValidator(kind: kind, algorithm: algorithm, fileSize: fileSize, path: path, capacity: count,
                                       adoptingKeys: keys, blockChecksums: blocks)
        var keyStart = 0, shapeStart = 0, blockStart = 0
        // When every byte of every key is ASCII, or none is NUL, no key needs its own look.
        let (allASCII, anyNUL) = keys.withUnsafeBytes { bytes in
            var combined: UInt64 = 0
            let words = bytes.count / 8
            for word in 0..<words { combined |= bytes.loadUnaligned(fromByteOffset: word * 8, as: UInt64.self) }
            for byte in bytes[(words * 8)...] { combined |= UInt64(byte) }
            return (combined & 0x8080_8080_8080_8080 == 0, bytes.baseAddress.map { memchr($0, 0, bytes.count) != nil } ?? false)
        }
        let slice = 1024
        var chunk = [UInt8](repeating: 0, count: min(count, slice) * recordSize)
        for sliceStart in stride(from: 0, to: count, by: slice) {
            let rows = sliceStart..<min(sliceStart + slice, count)
            try chunk.withUnsafeMutableBufferPointer { (buffer) throws(SheafError) in
                let bytes = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[0..<rows.count * recordSize])
                try readRecords(rows, bytes)
            }
            try chunk.withUnsafeBufferPointer { (recordBuffer) throws(SheafError) in
            let raw = UnsafeRawBufferPointer(recordBuffer)
            try keys.withUnsafeBufferPointer { (keyBuffer) throws(SheafError) in
                    for position in rows {
                        let base = (position - sliceStart) * recordSize
                        func load<T: FixedWidthInteger>(_ offset: Int, as: T.Type) -> T {
                            T(littleEndian: raw.loadUnaligned(fromByteOffset: base + offset, as: T.self))
                        }
                        let keyLength = Int(load(48, as: UInt32.self))
                        guard keyLength <= keyBuffer.count - keyStart else {
                            throw invalid("entry \(position): key_length \(keyLength) runs past the \(keyBuffer.count) bytes of \(keysDataset)")
                        }
                        let key = UnsafeBufferPointer(rebasing: keyBuffer[keyStart..<keyStart + keyLength])
                        keyStart += keyLength
                        let isASCII = allASCII || key.allSatisfy { $0 < 0x80 }
                        guard isASCII || String(validating: key, as: UTF8.self) != nil else {
                            throw invalid("entry \(position): the key is not UTF-8")
                        }
                        func entryProblem(_ message: String) -> SheafError {
                            invalid("entry \(position): \(message)", key: String(decoding: key, as: UTF8.self))
                        }
                        try validator.addKey(key, isASCII: isASCII, mayHoldNUL: anyNUL)
                        let dtypeCode = Int(load(60, as: UInt8.self)), storageCode = Int(load(61, as: UInt8.self))
                        let rank = Int(load(62, as: UInt8.self)), flags = load(63, as: UInt8.self)
                        let nbytes = load(0, as: Int64.self), offset = load(8, as: Int64.self)
                        let blockSize = load(32, as: Int64.self), arenaStart = load(40, as: Int64.self)
                        let tie = load(52, as: Int32.self), arena = load(56, as: Int32.self)
                        let metadataChecksum = load(24, as: UInt64.self)
                        guard dtypeCode < dtypes.count, storageCode < storages.count else {
                            throw entryProblem("dtype \(dtypeCode) or storage \(storageCode) is not a value of its enumeration")
                        }
                        guard rank <= Shape.maxRank, rank <= dimensions.count - shapeStart else {
                            throw entryProblem("rank \(rank) is over \(Shape.maxRank) or runs past the \(dimensions.count) values of \(shapesDataset)")
                        }
                        guard nbytes >= 0, offset >= -1, blockSize >= 0, arenaStart >= -1, tie >= -1, arena >= -1,
                              flags & ~(metadataFlag | metadataChecksumFlag) == 0,
                              flags & metadataChecksumFlag != 0 || metadataChecksum == 0 else {
                            throw entryProblem("a member is out of its range (nbytes >= 0; offset, arena_start, tied_to, arena >= -1; block_size >= 0; flags bits 0-1; metadata_checksum 0 unless flagged)")
                        }
                        var blockRange: Range<Int>?
                        if blockSize > 0 {
                            let needed = Int(nbytes / blockSize) + (nbytes % blockSize == 0 ? 0 : 1)
                            guard needed <= blocks.count - blockStart else {
                                throw entryProblem("\(needed) block checksums run past the \(blocks.count) values of \(blocksDataset)")
                            }
                            blockRange = blockStart..<blockStart + needed
                            blockStart += needed
                        }
                        let fields = IndexFields(dtype: dtypes[dtypeCode], storage: storages[storageCode], nbytes: Int(nbytes),
                                                 offset: offset < 0 ? nil : Int(offset), checksum: load(16, as: UInt64.self),
                                                 metadata: flags & metadataFlag != 0,
                                                 metadataChecksum: flags & metadataChecksumFlag != 0 ? metadataChecksum : nil,
                                                 blockSize: blockSize > 0 ? Int(blockSize) : nil, blocks: blockRange,
                                                 arena: arena < 0 ? nil : Int(arena), arenaStart: arenaStart < 0 ? nil : Int(arenaStart),
                                                 shapeStart: Int32(shapeStart), shapeCount: Int32(rank), owner: tie < 0 ? nil : Int(tie))
                        shapeStart += rank
                        try validator.addFields(fields, dimensions: dimensions) { validator in
                            Int(tie) <= position ? validator.key(at: Int(tie)) : "entry \(tie)"
                        }
                    }
                }
            }
        }
        guard keyStart == keys.count, shapeStart == dimensions.count, blockStart == blocks.count else {
            throw invalid("\(keysDataset), \(shapesDataset) and \(blocksDataset) hold \(keys.count), \(dimensions.count) and \(blocks.count) values; the records use \(keyStart), \(shapeStart) and \(blockStart)")
        }
        return try validator.finish(dimensions: dimensions)
    }

    /// The 1-d dataset `name` of `group` and its length, after checking that
    /// its type is exactly `type` and it has at most `limit` elements.
    /// Its stored bytes must fit in the file (`fileSize`): nothing is allocated
    /// for more than a file can hold.
    private static func checked(_ group: borrowing HDF5Group, _ name: String, type: borrowing HDF5Datatype, limit: Int,
                                fileSize: Int, path: String) throws(SheafError) -> HDF5Dataset {
        let object = "/\(FormatLayout.binaryIndexGroup)/\(name)"
        let result = try hdf5(path) { () throws(HDF5Error) -> HDF5Dataset? in
            guard try group.contains(name) else { return nil }
            let dataset = try group.openDataset(name)
            guard let shape = try dataset.shape(), shape.count == 1, shape[0] <= limit,
                  try dataset.datatype().isEqual(to: type) else { return nil }
            return dataset
        }
        guard let result else {
            throw SheafError(.invalidIndex, file: path, "binary index \(object) must be a 1-d dataset of at most \(limit) elements of the type §8.2 gives")
        }
        let stored = try hdf5(path) { () throws(HDF5Error) in try result.storageSize() }
        guard stored <= UInt64(fileSize) else {
            throw SheafError(.invalidIndex, file: path, "binary index \(object) declares \(stored) stored bytes, more than the \(fileSize)-byte file holds")
        }
        return result
    }

    /// The 1-d dataset `name` of `group` as an array, after checking that its
    /// type is exactly `type` and it has at most `limit` elements.
    private static func array<T: BitwiseCopyable>(_ group: borrowing HDF5Group, _ name: String, of: T.Type, elementSize: Int, limit: Int,
                                                   fileSize: Int, path: String, type makeType: () throws(HDF5Error) -> HDF5Datatype) throws(SheafError) -> [T] {
        let memoryType = try hdf5(path) { () throws(HDF5Error) in try makeType() }
        let dataset = try checked(group, name, type: memoryType, limit: limit, fileSize: fileSize, path: path)
        let result = try hdf5(path) { () throws(HDF5Error) -> [T]? in
            let count = try dataset.shape()?.first ?? 0
            let elements = count * elementSize / MemoryLayout<T>.stride
            var failure: HDF5Error?
            let values = [T](unsafeUninitializedCapacity: elements) { buffer, count in
                guard elements > 0 else { return }
                do throws(HDF5Error) {
                    try dataset.read(into: UnsafeMutableRawBufferPointer(buffer), as: memoryType)
                    count = elements
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
            return values
        }
        return result ?? []
    }
}
