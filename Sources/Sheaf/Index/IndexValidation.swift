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
/// format's rules (§8) and the file's size, building the compact table:
/// ``addKey(_:isASCII:)`` then ``addFields(_:dimensions:tieName:)`` for each,
/// whether it comes from the JSON (``add(_:text:dimensions:blockTexts:)``
/// decodes its text) or from the binary index (``BinaryIndex``).
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

    /// Whether the keys' bytes and the block checksums were given whole at
    /// init (the binary index holds them back to back in entry order).
    private var adopted: Bool

    init(kind: SheafKind, algorithm: ChecksumAlgorithm, fileSize: Int, path: String, capacity: Int) {
        (self.kind, self.algorithm, self.fileSize, self.path) = (kind, algorithm, fileSize, path)
        let capacity = min(capacity, FormatLayout.maxTensors)
        records.reserveCapacity(capacity)
        keyStarts.reserveCapacity(capacity + 1)
        lookup = KeyLookup(capacity: capacity)
        adopted = false
    }

    /// A validator whose entries' keys are `keyBytes` back to back and whose
    /// block checksums are `blockChecksums`, in entry order: each
    /// ``addKey(_:isASCII:)`` must pass the next key's bytes of `keyBytes`,
    /// and each entry's ``IndexFields/blocks`` the next range of `blockChecksums`.
    init(kind: SheafKind, algorithm: ChecksumAlgorithm, fileSize: Int, path: String, capacity: Int,
         adoptingKeys keyBytes: [UInt8], blockChecksums: [UInt64]) {
        self.init(kind: kind, algorithm: algorithm, fileSize: fileSize, path: path, capacity: capacity)
        self.keyBytes = keyBytes
        self.blockChecksums = blockChecksums
        self.adopted = true
    }

    /// Checks `entry` (its text in `text`, its shape in `dimensions`, its block
    /// checksums in `blockTexts`) and adds it.
    mutating func add(_ entry: RawIndexEntry, text: IndexText, dimensions: [Int], blockTexts: [TextSpan]) throws(SheafError) {
        let path = path, algorithm = algorithm
        func string(_ span: TextSpan) -> String { String(decoding: text[span], as: UTF8.self) }
        func fail(_ code: SheafError.Code, _ message: String) -> SheafError {
            SheafError(code, file: path, key: string(entry.key), message)
        }
        try addKey(text[entry.key], isASCII: entry.keyIsASCII)
        guard entry.dtypeCode >= 0 else {
            throw fail(.unknownDType, "unknown dtype '\(string(entry.dtype))'")
        }
        guard entry.storageCode >= 0 else {
            throw fail(.invalidIndex, "unknown storage '\(string(entry.storage))'")
        }
        guard let checksum = algorithm.parse(text[entry.checksum]) else {
            throw fail(.invalidIndex, "checksum '\(string(entry.checksum))' is not a \(algorithm.rawValue) hex value")
        }
        var metadataChecksum: UInt64?
        if !entry.metadataChecksum.isAbsent {
            guard let value = algorithm.parse(text[entry.metadataChecksum]) else {
                throw fail(.invalidIndex, "metadata_checksum '\(string(entry.metadataChecksum))' is not a \(algorithm.rawValue) hex value")
            }
            metadataChecksum = value
        }
        let blocksStart = blockChecksums.count
        for block in blockTexts[entry.blocks] {
            guard let value = algorithm.parse(text[block]) else {
                throw fail(.invalidIndex, "block checksum '\(string(block))' is not a \(algorithm.rawValue) hex value")
            }
            blockChecksums.append(value)
        }
        var owner: Int?
        if !entry.tiedTo.isAbsent {
            owner = lookup.strings != nil ? lookup.strings?[string(entry.tiedTo)]
                : lookup.position(of: text[entry.tiedTo], in: keyBytes, keyStarts)
            // A key that is not in the index is not an earlier key either.
            if owner == nil { owner = Int.max }
        }
        let fields = IndexFields(dtype: DType.allCases[Int(entry.dtypeCode)], storage: IndexScanner.storageNames[Int(entry.storageCode)],
                                 nbytes: entry.nbytes, offset: entry.offset, checksum: checksum, metadata: entry.metadata,
                                 metadataChecksum: metadataChecksum, blockSize: entry.blockSize,
                                 blocks: entry.blocksCount < 0 ? nil : blocksStart..<blockChecksums.count,
                                 arena: entry.arena, arenaStart: entry.arenaStart,
                                 shapeStart: entry.shapeStart, shapeCount: entry.shapeCount, owner: owner)
        try addFields(fields, dimensions: dimensions, tieName: { _ in string(entry.tiedTo) })
    }

    /// Checks the key of the next entry (the count limit, §3's rules, not a
    /// repeat) and adds it: the first step of every entry, whichever index it
    /// comes from. `isASCII` must say whether every byte of `key` is under 0x80;
    /// `mayHoldNUL` false says the caller found no NUL byte in it.
    mutating func addKey(_ key: UnsafeBufferPointer<UInt8>, isASCII: Bool, mayHoldNUL: Bool = true) throws(SheafError) {
        let position = records.count
        guard position < FormatLayout.maxTensors else {
            throw SheafError(.limitExceeded, file: path, "index lists more than \(FormatLayout.maxTensors) tensors, the limit")
        }
        if key.isEmpty || mayHoldNUL, let problem = FormatLayout.keyProblem(key) {
            throw SheafError(.invalidKey, file: path, key: String(decoding: key, as: UTF8.self), problem)
        }
        if !isASCII, lookup.strings == nil {
            lookup.useStrings((0..<position).map { self.key(at: $0) })
        }
        if adopted {
            keyStarts.append(keyStarts[position] + key.count)
        } else {
            keyBytes.append(contentsOf: key)
            keyStarts.append(keyBytes.count)
        }
        if lookup.strings != nil {
            let keyString = String(decoding: key, as: UTF8.self)
            guard lookup.strings?[keyString] == nil else {
                throw SheafError(.invalidIndex, file: path, key: keyString, "duplicate key in the index")
            }
            lookup.insert(keyString, at: position)
        } else {
            // Added now, before its own tie is looked up: a key tied to itself
            // is refused as not earlier.
            guard lookup.insert(key, at: position, in: keyBytes, keyStarts) == nil else {
                throw SheafError(.invalidIndex, file: path, key: String(decoding: key, as: UTF8.self), "duplicate key in the index")
            }
        }
    }

    /// Checks the members of the entry whose key ``addKey(_:isASCII:)`` just
    /// added, against §8's rules and the entries before it, and adds it.
    /// `fields.blocks` must be where the entry's block checksums lie in
    /// ``blockChecksums`` (last appended, or the next range of those adopted
    /// at init); `tieName` names the tie for messages.
    mutating func addFields(_ fields: IndexFields, dimensions: [Int], tieName: (IndexValidator) -> String) throws(SheafError) {
        let position = records.count
        let path = path
        // The key and shape as text only for a message: no copy on the way through.
        func keyText(_ validator: IndexValidator) -> String { validator.key(at: position) }
        func fail(_ code: SheafError.Code, _ message: String) -> SheafError {
            SheafError(code, file: path, key: keyText(self), message)
        }
        let dtype = fields.dtype, storage = fields.storage, nbytes = fields.nbytes
        let shapeRange = Int(fields.shapeStart)..<Int(fields.shapeStart) + Int(fields.shapeCount)
        let expected: Int
        do {
            expected = try dimensions.withUnsafeBufferPointer { (all) throws(SheafError) in
                try Shape.byteCount(UnsafeBufferPointer(rebasing: all[shapeRange]), dtype)
            }
        } catch {
            throw error.with(file: path, key: keyText(self))
        }
        guard nbytes == expected else {
            throw fail(.shapeMismatch, "\(dtype) shape \(Array(dimensions[shapeRange])) needs \(expected) bytes, index says \(nbytes)")
        }
        let packed: PackedPlacement?
        if storage != .packed, fields.arena == nil, fields.arenaStart == nil {
            packed = nil  // the common case of §18's rule, without building its message
        } else {
            switch SheafFile.packedPlacement(fields) {
            case .success(let placement): packed = placement
            case .failure(let message): throw fail(.invalidIndex, message.text)
            }
        }
        if let offset = fields.offset {
            guard storage != .deflate, offset >= 0, offset <= fileSize, nbytes <= fileSize - offset else {
                throw fail(.invalidIndex, "data at offset \(offset) + \(nbytes) bytes runs past the end of the \(fileSize)-byte file")
            }
        }
        if let first = fields.owner {
            guard first < position, records[first].owner < 0, records[first].dtype == dtype,
                  dimensions[records[first].shape] == dimensions[shapeRange],
                  records[first].checksum == fields.checksum else {
                throw fail(.invalidIndex, "tied to '\(tieName(self))', which is not an earlier untied key of the same dtype, shape and checksum")
            }
        }
        let blocks = fields.blocks ?? 0..<0
        if fields.blockSize != nil || fields.blocks != nil {
            guard let size = fields.blockSize, let blocks = fields.blocks, size > 0 else {
                throw fail(.invalidIndex, "block_size and block_checksums come together, with block_size a positive integer (§9.1)")
            }
            let needed = nbytes / size + (nbytes % size == 0 ? 0 : 1)
            guard blocks.count == needed else {
                throw fail(.invalidIndex, "\(nbytes) bytes in blocks of \(size) need \(needed) block checksums, the index has \(blocks.count)")
            }
        }
        let record = IndexRecord(checksum: fields.checksum, byteCount: nbytes, offset: fields.offset, metadataChecksum: fields.metadataChecksum,
                                 blockSize: fields.blockSize, packed: packed, shapeStart: fields.shapeStart, shapeCount: fields.shapeCount,
                                 blocksStart: Int32(blocks.lowerBound), blocksCount: Int32(blocks.count),
                                 owner: Int32(fields.owner ?? -1), dtype: dtype, storage: storage, hasMetadata: fields.metadata)
        if let owner = fields.owner {
            let first = records[owner]
            guard first.blockSize == record.blockSize,
                  blockChecksums[first.blocks] == blockChecksums[blocks] else {
                throw fail(.invalidIndex, "tied to '\(tieName(self))' but with other block checksums")
            }
            guard first.storage == storage, first.packed == packed, packed == nil || first.offset == fields.offset else {
                throw fail(.invalidIndex, "tied to '\(tieName(self))' but stored elsewhere (a tie names the same stored tensor, §7)")
            }
        }
        records.append(record)
    }

    func key(at position: Int) -> String {
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
    static func packedPlacement(_ fields: IndexFields) -> Result<PackedPlacement?, IndexRuleBroken> {
        guard fields.storage == .packed else {
            guard fields.arena == nil, fields.arenaStart == nil else {
                return .failure(IndexRuleBroken("arena and arena_start belong to packed tensors only, storage is '\(fields.storage.rawValue)' (§18)"))
            }
            return .success(nil)
        }
        let alignment = FormatLayout.alignment, itemSize = fields.dtype.itemSize
        guard let arena = fields.arena, let start = fields.arenaStart, arena >= 0, arena < FormatLayout.maxTensors,
              start >= 0, start <= Int.max / max(itemSize, 1),
              (start * itemSize) % alignment == 0 else {
            return .failure(IndexRuleBroken("a packed tensor needs arena (a number) and arena_start (an element index at a multiple of \(alignment) bytes) (§18)"))
        }
        guard let offset = fields.offset, offset % alignment == 0, fields.nbytes > 0 else {
            return .failure(IndexRuleBroken("a packed tensor is non-empty and has an offset that is a multiple of \(alignment) (§18)"))
        }
        guard !fields.metadata, fields.metadataChecksum == nil else {
            return .failure(IndexRuleBroken("a packed tensor carries no metadata (§18)"))
        }
        return .success(PackedPlacement(arena: arena, start: start))
    }
}

/// One entry's members, decoded from whichever index they come from (the
/// JSON of §8 or the binary index of §8.2), for ``IndexValidator`` to check.
struct IndexFields {
    var dtype: DType
    var storage: StorageKind
    var nbytes: Int
    var offset: Int?
    var checksum: UInt64
    var metadata: Bool
    var metadataChecksum: UInt64?
    var blockSize: Int?
    /// Where the entry's block checksums lie in the validator's list; nil when it has none.
    var blocks: Range<Int>?
    var arena: Int?
    var arenaStart: Int?
    /// The dimensions, at `shapeStart` of the index's dimensions.
    var shapeStart: Int32
    var shapeCount: Int32
    /// The position of the key it is tied to (`Int.max` for a key not in the index), or nil.
    var owner: Int?
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
