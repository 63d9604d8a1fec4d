import Glibc

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
                let member = try memberIndex(Self.entryMembers)
                skipSpace()
                try expect(":")
                skipSpace()
                // Indexes into `entryMembers`; nil: a member this version does not know.
                switch member {
                case 0: try once(1); key = try string()
                case 1: try once(2); dtype = try string(interning: Self.dtypeNames)
                case 2: try once(4); shape = try integers()
                case 3: try once(8); guard let value = integer() else { throw Failure() }; nbytes = value
                case 4: try once(16); storage = try string(interning: Self.storageNames)
                case 5: try once(32); checksum = try string()
                case 6:
                    try once(64)
                    switch try parse(depth: 3) {
                    case .bool(let value): metadata = value
                    default: throw Failure()
                    }
                case 7: try once(128); offset = try nullable { (reader: inout JSONReader) throws -> Int in
                    guard let value = reader.integer() else { throw Failure() }
                    return value
                }
                case 8: try once(256); tiedTo = try nullable { try $0.string() }
                case 9: try once(512); metadataChecksum = try nullable { try $0.string() }
                case 10: try once(1024); guard let value = integer() else { throw Failure() }; blockSize = value
                case 11: try once(2048); blockChecksums = try strings()
                case 12: try once(4096); guard let value = integer() else { throw Failure() }; arena = value
                case 13: try once(8192); guard let value = integer() else { throw Failure() }; arenaStart = value
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

    /// The member names of an index entry, the dtype names and the storage
    /// kinds: read as these very strings (no new string, no UTF-8 check) when
    /// the bytes are one of them.
    static let entryMembers = ["key", "dtype", "shape", "nbytes", "storage", "checksum", "metadata", "offset", "tied_to",
                               "metadata_checksum", "block_size", "block_checksums", "arena", "arena_start"].map(InternedString.init)
    static let dtypeNames = DType.allCases.map { InternedString($0.rawValue) }
    static let storageNames = ["contiguous", "deflate", "packed"].map(InternedString.init)

    /// An object member's name as its index in `known`, or nil for any other
    /// name (read, and so checked, as a string). An escaped spelling of a
    /// known name counts as that name, as for any JSON reader.
    mutating func memberIndex(_ known: [InternedString]) throws -> Int? {
        if let index = knownIndex(known) { return index }
        let name = try string()
        return known.firstIndex { $0.text == name }
    }

    /// A JSON string; when its bytes (unescaped) equal one of `known`, that
    /// string itself.
    mutating func string(interning known: [InternedString]) throws -> String {
        if let index = knownIndex(known) { return known[index].text }
        return try string()
    }

    /// When the string at the position is, byte for byte and without escapes,
    /// one of `known`: its index, the position moved past it.
    mutating func knownIndex(_ known: [InternedString]) -> Int? {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { return nil }
        let start = position + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            let length = end - start
            let found: Int? = bytes.withUnsafeBufferPointer { buffer in
                for (index, candidate) in known.enumerated() where candidate.bytes.count == length {
                    if candidate.bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, buffer.baseAddress! + start, length) == 0 }) {
                        return index
                    }
                }
                return nil
            }
            if let found {
                position = end + 1
                return found
            }
        }
        return nil
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

/// A known string with its UTF-8 bytes, for matching without making a new string.
struct InternedString {
    let text: String
    let bytes: [UInt8]
    init(_ text: String) {
        self.text = text
        self.bytes = Array(text.utf8)
    }
}
