extension SheafFile {
    /// Checks every entry of a parsed index against the format's rules (§8)
    /// and the file's size, and builds the table of entries and key positions.
    /// (A file's open does the same while it parses: ``IndexParser/table(_:_:)``.)
    static func validate(_ raw: RawIndex, kind: SheafKind, algorithm: ChecksumAlgorithm,
                         fileSize: Int, path: String) throws(SheafError) -> IndexTable {
        var validator = IndexValidator(kind: kind, algorithm: algorithm, fileSize: fileSize, path: path, capacity: raw.entries.count)
        try raw.withText { (text) throws(SheafError) in
            for entry in raw.entries { try validator.add(entry, text: text, dimensions: raw.dimensions, blockTexts: raw.blockTexts) }
        }
        return try validator.finish(dimensions: raw.dimensions)
    }
}

/// Checks the entries of an index one by one, as they are read, against the
/// format's rules (§8) and the file's size, building the compact table.
/// - Complexity: O(bytes of the index); no string or array is made per entry
///   unless a key is not ASCII.
struct IndexValidator {
    let kind: SheafKind
    let algorithm: ChecksumAlgorithm
    let fileSize: Int
    let path: String
    private var records: [IndexRecord] = []
    private var keyBytes: [UInt8] = []
    private var keyStarts: [Int] = [0]
    private var blockChecksums: [UInt64] = []
    private var lookup: KeyLookup

    init(kind: SheafKind, algorithm: ChecksumAlgorithm, fileSize: Int, path: String, capacity: Int) {
        (self.kind, self.algorithm, self.fileSize, self.path) = (kind, algorithm, fileSize, path)
        let capacity = min(capacity, FormatLayout.maxTensors)
        records.reserveCapacity(capacity)
        keyStarts.reserveCapacity(capacity + 1)
        lookup = KeyLookup(capacity: capacity)
    }

    /// Checks `entry` (its text in `text`, its shape in `dimensions`, its block
    /// checksums in `blockTexts`) and adds it.
    mutating func add(_ entry: RawIndexEntry, text: IndexText, dimensions: [Int], blockTexts: [TextSpan]) throws(SheafError) {
        let position = records.count
        let path = path, algorithm = algorithm
        func string(_ span: TextSpan) -> String { String(decoding: text[span], as: UTF8.self) }
        func fail(_ code: SheafError.Code, _ message: String) -> SheafError {
            SheafError(code, file: path, key: string(entry.key), message)
        }
        guard position < FormatLayout.maxTensors else {
            throw SheafError(.limitExceeded, file: path, "index lists more than \(FormatLayout.maxTensors) tensors, the limit")
        }
        let keyText = text[entry.key]
        if let problem = FormatLayout.keyProblem(keyText) { throw fail(.invalidKey, problem) }
        if !entry.keyIsASCII, lookup.strings == nil {
            lookup.useStrings((0..<position).map { key(at: $0) })
        }
        keyBytes.append(contentsOf: keyText)
        keyStarts.append(keyBytes.count)
        let keyString = lookup.strings == nil ? nil : string(entry.key)
        if let keyString {
            guard lookup.strings?[keyString] == nil else { throw fail(.invalidIndex, "duplicate key in the index") }
        } else {
            // Added now, before its own tie is looked up: a key tied to itself
            // is refused below as not earlier.
            guard lookup.insert(keyText, at: position, in: keyBytes, keyStarts) == nil else {
                throw fail(.invalidIndex, "duplicate key in the index")
            }
        }
        guard entry.dtypeCode >= 0 else {
            throw fail(.unknownDType, "unknown dtype '\(string(entry.dtype))'")
        }
        let dtype = DType.allCases[Int(entry.dtypeCode)]
        let shape = dimensions[entry.shape]
        let expected: Int
        do { expected = try Shape.byteCount(shape, dtype) } catch { throw error.with(file: path, key: string(entry.key)) }
        guard entry.nbytes == expected else {
            throw fail(.shapeMismatch, "\(dtype) shape \(Array(shape)) needs \(expected) bytes, index says \(entry.nbytes)")
        }
        guard entry.storageCode >= 0 else {
            throw fail(.invalidIndex, "unknown storage '\(string(entry.storage))'")
        }
        let storage = IndexScanner.storageNames[Int(entry.storageCode)]
        guard let checksum = algorithm.parse(text[entry.checksum]) else {
            throw fail(.invalidIndex, "checksum '\(string(entry.checksum))' is not a \(algorithm.rawValue) hex value")
        }
        let packed: PackedPlacement?
        switch SheafFile.packedPlacement(entry, storage: storage, dtype: dtype) {
        case .success(let placement): packed = placement
        case .failure(let message): throw fail(.invalidIndex, message.text)
        }
        if let offset = entry.offset {
            guard storage != .deflate, offset >= 0, offset <= fileSize, entry.nbytes <= fileSize - offset else {
                throw fail(.invalidIndex, "data at offset \(offset) + \(entry.nbytes) bytes runs past the end of the \(fileSize)-byte file")
            }
        }
        var owner: Int?
        if !entry.tiedTo.isAbsent {
            let found = lookup.strings != nil ? lookup.strings?[string(entry.tiedTo)] : lookup.position(of: text[entry.tiedTo], in: keyBytes, keyStarts)
            guard let first = found, first < position, records[first].owner < 0, records[first].dtype == dtype,
                  dimensions[records[first].shape] == shape,
                  records[first].checksum == checksum else {
                throw fail(.invalidIndex, "tied to '\(string(entry.tiedTo))', which is not an earlier untied key of the same dtype, shape and checksum")
            }
            owner = first
        }
        var metadataChecksum: UInt64?
        if !entry.metadataChecksum.isAbsent {
            guard let value = algorithm.parse(text[entry.metadataChecksum]) else {
                throw fail(.invalidIndex, "metadata_checksum '\(string(entry.metadataChecksum))' is not a \(algorithm.rawValue) hex value")
            }
            metadataChecksum = value
        }
        let blocksStart = blockChecksums.count
        if entry.blockSize != nil || entry.blocksCount >= 0 {
            guard let size = entry.blockSize, entry.blocksCount >= 0, size > 0 else {
                throw fail(.invalidIndex, "block_size and block_checksums come together, with block_size a positive integer (§9.1)")
            }
            let blocks = entry.nbytes / size + (entry.nbytes % size == 0 ? 0 : 1)
            guard Int(entry.blocksCount) == blocks else {
                throw fail(.invalidIndex, "\(entry.nbytes) bytes in blocks of \(size) need \(blocks) block checksums, the index has \(entry.blocksCount)")
            }
            for block in blockTexts[entry.blocks] {
                guard let value = algorithm.parse(text[block]) else {
                    throw fail(.invalidIndex, "block checksum '\(string(block))' is not a \(algorithm.rawValue) hex value")
                }
                blockChecksums.append(value)
            }
        }
        let record = IndexRecord(checksum: checksum, byteCount: entry.nbytes, offset: entry.offset, metadataChecksum: metadataChecksum,
                                 blockSize: entry.blockSize, packed: packed, shapeStart: entry.shapeStart, shapeCount: entry.shapeCount,
                                 blocksStart: Int32(blocksStart), blocksCount: Int32(blockChecksums.count - blocksStart),
                                 owner: Int32(owner ?? -1), dtype: dtype, storage: storage, hasMetadata: entry.metadata)
        if let owner {
            let first = records[owner]
            guard first.blockSize == record.blockSize,
                  blockChecksums[first.blocks] == blockChecksums[blocksStart...] else {
                throw fail(.invalidIndex, "tied to '\(string(entry.tiedTo))' but with other block checksums")
            }
            guard first.storage == storage, first.packed == packed, packed == nil || first.offset == entry.offset else {
                throw fail(.invalidIndex, "tied to '\(string(entry.tiedTo))' but stored elsewhere (a tie names the same stored tensor, §7)")
            }
        }
        if let keyString { lookup.insert(keyString, at: position) }
        records.append(record)
    }

    private func key(at position: Int) -> String {
        String(decoding: keyBytes[keyStarts[position]..<keyStarts[position + 1]], as: UTF8.self)
    }

    /// The table, once the kind's rules on keys hold (§3).
    consuming func finish(dimensions: [Int]) throws(SheafError) -> IndexTable {
        let count = records.count
        let table = IndexTable(records: records, keyBytes: keyBytes, keyStarts: keyStarts, dimensions: dimensions,
                               blockChecksums: blockChecksums, lookup: lookup)
        switch kind {
        case .tensor:
            guard count == 1, table.keyBytes == [UInt8(ascii: "0")] else {
                throw SheafError(.invalidIndex, file: path, "a file of kind tensor holds exactly one tensor under key \"0\", found \(count) keys")
            }
        case .list:
            for position in 0..<count where !table.keyBytes[table.keyStarts[position]..<table.keyStarts[position + 1]].elementsEqual(String(position).utf8) {
                throw SheafError(.invalidIndex, file: path, key: table.key(at: position),
                                 "a list's keys are \"0\", \"1\", … in order; expected \"\(position)\"")
            }
        case .dict: break
        }
        return table
    }
}

extension SheafFile {
    /// A packed entry's placement (§18): storage `packed` comes with `arena`,
    /// `arena_start` and an aligned `offset`, for a non-empty tensor without
    /// metadata; other storage comes with neither member.
    static func packedPlacement(_ raw: RawIndexEntry, storage: StorageKind, dtype: DType) -> Result<PackedPlacement?, IndexRuleBroken> {
        guard storage == .packed else {
            guard raw.arena == nil, raw.arenaStart == nil else {
                return .failure(IndexRuleBroken("arena and arena_start belong to packed tensors only, storage is '\(storage.rawValue)' (§18)"))
            }
            return .success(nil)
        }
        let alignment = FormatLayout.alignment
        guard let arena = raw.arena, let start = raw.arenaStart, arena >= 0, arena < FormatLayout.maxTensors,
              start >= 0, start <= Int.max / max(dtype.itemSize, 1),
              (start * dtype.itemSize) % alignment == 0 else {
            return .failure(IndexRuleBroken("a packed tensor needs arena (a number) and arena_start (an element index at a multiple of \(alignment) bytes) (§18)"))
        }
        guard let offset = raw.offset, offset % alignment == 0, raw.nbytes > 0 else {
            return .failure(IndexRuleBroken("a packed tensor is non-empty and has an offset that is a multiple of \(alignment) (§18)"))
        }
        guard !raw.metadata, raw.metadataChecksum.isAbsent else {
            return .failure(IndexRuleBroken("a packed tensor carries no metadata (§18)"))
        }
        return .success(PackedPlacement(arena: arena, start: start))
    }
}

/// The bytes of the index's text spans (see ``TextSpan``).
struct IndexText {
    let source: UnsafeBufferPointer<UInt8>
    let unescaped: UnsafeBufferPointer<UInt8>

    /// The bytes of `span`; empty when absent.
    subscript(span: TextSpan) -> UnsafeBufferPointer<UInt8> {
        guard span.count > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        return span.start < 0 ? UnsafeBufferPointer(rebasing: unescaped[Int(~span.start)..<Int(~span.start) + Int(span.count)])
                              : UnsafeBufferPointer(rebasing: source[Int(span.start)..<Int(span.start) + Int(span.count)])
    }
}

/// Which rule of the index an entry breaks, in words.
struct IndexRuleBroken: Error {
    let text: String
    init(_ text: String) { self.text = text }
}
