/// Reads the index document (Spec/FORMAT.md §8) in one pass with
/// ``JSONReader``, building entries as the `tensors` array is read; falls back
/// to `JSONDecoder` (in ``SheafFile``) only to describe malformed input.
enum IndexParser {
    /// What parsing the index gave.
    enum Outcome {
        case document(IndexDocument)
        /// Not JSON, or not of the form section 8 gives.
        case malformed
    }

    /// Parses the index document, or nil when the bytes are not of the expected form.
    static func document(_ bytes: [UInt8]) -> IndexDocument? {
        if case .document(let document) = parse(bytes) { return document }
        return nil
    }

    /// Parses the index in one pass: entries are built as the `tensors` array is
    /// read (no tree of the whole document).
    static func parse(_ bytes: [UInt8]) -> Outcome {
        var reader = JSONReader(bytes)
        do { return try reader.parseIndex() } catch { return .malformed }
    }
}

extension JSONReader {
    mutating func parseIndex() throws -> IndexParser.Outcome {
        var tensors: [IndexEntry]?
        var metadataChecksum: String?
        var structure: CheckpointNode?
        skipSpace()
        try expect("{")
        skipSpace()
        if try !consume("}") {
            while true {
                skipSpace()
                let name = try string()
                skipSpace()
                try expect(":")
                switch name {
                case "tensors":
                    guard tensors == nil else { throw Failure() }
                    var list: [IndexEntry] = []
                    // An entry takes at least ~100 bytes of JSON: reserve once. A key
                    // listed twice is found by the validation that follows (one hash
                    // table for both).
                    list.reserveCapacity(Swift.min(bytes.count / 128, FormatLayout.maxTensors))
                    skipSpace()
                    try expect("[")
                    skipSpace()
                    if try !consume("]") {
                        while true {
                            list.append(try parseEntry())
                            skipSpace()
                            if try consume(",") { continue }
                            try expect("]")
                            break
                        }
                    }
                    tensors = list
                case "metadata_checksum":
                    switch try parse(depth: 1) {
                    case .string(let text): metadataChecksum = text
                    case .null: break
                    default: throw Failure()
                    }
                case "structure":
                    guard structure == nil, let node = CheckpointNode.parse(try parse(depth: 1)) else { throw Failure() }
                    structure = node
                default:
                    _ = try parse(depth: 1)  // unknown members are ignored (§8)
                }
                skipSpace()
                if try consume(",") { continue }
                try expect("}")
                break
            }
        }
        skipSpace()
        guard position == bytes.count, let tensors else { throw Failure() }
        return .document(IndexDocument(tensors: tensors, metadata_checksum: metadataChecksum, structure: structure))
    }
}

extension JSONReader {
    /// One entry of the `tensors` array, read member by member straight into
    /// an ``IndexEntry`` (no intermediate value tree: ~0.3 µs per entry).
    /// Unknown members are skipped; a known member of the wrong type, a
    /// repeated member or a missing required one is a failure.
    mutating func parseEntry() throws -> IndexEntry {
        skipSpace()
        try expect("{")
        var key: String?, dtype: String?, shape: [Int]?, nbytes: Int?, storage: String?, checksum: String?, metadata: Bool?
        var offset: Int?, tiedTo: String?, metadataChecksum: String?, blockSize: Int?, blockChecksums: [String]?
        var arena: Int?, arenaStart: Int?
        var seen: UInt16 = 0
        func once(_ bit: UInt16) throws { guard seen & bit == 0 else { throw Failure() }; seen |= bit }
        skipSpace()
        if try !consume("}") {
            while true {
                skipSpace()
                let name = try string()
                skipSpace()
                try expect(":")
                skipSpace()
                switch name {
                case "key": try once(1); key = try string()
                case "dtype": try once(2); dtype = try string()
                case "shape": try once(4); shape = try integers()
                case "nbytes": try once(8); guard let value = integer() else { throw Failure() }; nbytes = value
                case "storage": try once(16); storage = try string()
                case "checksum": try once(32); checksum = try string()
                case "metadata":
                    try once(64)
                    switch try parse(depth: 3) {
                    case .bool(let value): metadata = value
                    default: throw Failure()
                    }
                case "offset": try once(128); offset = try nullable { (reader: inout JSONReader) throws -> Int in
                    guard let value = reader.integer() else { throw Failure() }
                    return value
                }
                case "tied_to": try once(256); tiedTo = try nullable { try $0.string() }
                case "metadata_checksum": try once(512); metadataChecksum = try nullable { try $0.string() }
                case "block_size": try once(1024); guard let value = integer() else { throw Failure() }; blockSize = value
                case "block_checksums": try once(2048); blockChecksums = try strings()
                case "arena": try once(4096); guard let value = integer() else { throw Failure() }; arena = value
                case "arena_start": try once(8192); guard let value = integer() else { throw Failure() }; arenaStart = value
                default: _ = try parse(depth: 3)  // unknown members are ignored (§8)
                }
                skipSpace()
                if try consume(",") { continue }
                try expect("}")
                break
            }
        }
        guard let key, let dtype, let shape, let nbytes, let storage, let checksum, let metadata else { throw Failure() }
        return IndexEntry(key: key, dtype: dtype, shape: shape, nbytes: nbytes, offset: offset, storage: storage,
                          checksum: checksum, tied_to: tiedTo, metadata: metadata, metadata_checksum: metadataChecksum,
                          block_size: blockSize, block_checksums: blockChecksums, arena: arena, arena_start: arenaStart)
    }

    /// `null`, or what `body` reads.
    mutating func nullable<T>(_ body: (inout JSONReader) throws -> T) throws -> T? {
        if position < bytes.count, bytes[position] == UInt8(ascii: "n") { try literal("null"); return nil }
        return try body(&self)
    }

    /// An array of integers.
    mutating func integers() throws -> [Int] {
        try array { (reader: inout JSONReader) throws -> Int in
            guard let value = reader.integer() else { throw Failure() }
            return value
        }
    }

    /// An array of strings.
    mutating func strings() throws -> [String] { try array { try $0.string() } }

    /// An array whose elements `element` reads.
    mutating func array<T>(_ element: (inout JSONReader) throws -> T) throws -> [T] {
        try expect("[")
        var values: [T] = []
        skipSpace()
        if try consume("]") { return values }
        while true {
            skipSpace()
            values.append(try element(&self))
            skipSpace()
            if try consume(",") { continue }
            try expect("]")
            return values
        }
    }
}
