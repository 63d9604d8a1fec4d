/// Reads the index document (Spec/FORMAT.md §8) in one pass with
/// ``JSONReader``, building entries as the `tensors` array is read; falls back
/// to `JSONDecoder` (in ``SheafFile``) only to describe malformed input.
enum IndexParser {
    static func entry(_ value: JSONReader.Value) -> IndexEntry? {
        guard case .object(let members) = value else { return nil }
        var key: String?, dtype: String?, shape: [Int]?, nbytes: Int?, storage: String?, checksum: String?, metadata: Bool?
        var offset: Int?, tiedTo: String?, metadataChecksum: String?
        for (name, value) in members {
            switch (name, value) {
            case ("key", .string(let v)): key = v
            case ("dtype", .string(let v)): dtype = v
            case ("shape", .array(let items)):
                var dims: [Int] = []
                for item in items { guard case .integer(let d) = item else { return nil }; dims.append(d) }
                shape = dims
            case ("nbytes", .integer(let v)): nbytes = v
            case ("storage", .string(let v)): storage = v
            case ("checksum", .string(let v)): checksum = v
            case ("metadata", .bool(let v)): metadata = v
            case ("offset", .integer(let v)): offset = v
            case ("offset", .null), ("tied_to", .null), ("metadata_checksum", .null): continue
            case ("tied_to", .string(let v)): tiedTo = v
            case ("metadata_checksum", .string(let v)): metadataChecksum = v
            case ("key", _), ("dtype", _), ("shape", _), ("nbytes", _), ("storage", _), ("checksum", _), ("metadata", _),
                 ("offset", _), ("tied_to", _), ("metadata_checksum", _):
                return nil  // a known member of the wrong type
            default: continue
            }
        }
        guard let key, let dtype, let shape, let nbytes, let storage, let checksum, let metadata else { return nil }
        return IndexEntry(key: key, dtype: dtype, shape: shape, nbytes: nbytes, offset: offset, storage: storage,
                          checksum: checksum, tied_to: tiedTo, metadata: metadata, metadata_checksum: metadataChecksum)
    }

    /// What parsing the index gave.
    enum Outcome {
        case document(IndexDocument)
        /// Not JSON, or not of the form section 8 gives.
        case malformed
        /// A key listed twice; parsing stopped at its second entry.
        case duplicate(String)
    }

    /// Parses the index document, or nil when the bytes are not of the expected form.
    static func document(_ bytes: [UInt8]) -> IndexDocument? {
        if case .document(let document) = parse(bytes) { return document }
        return nil
    }

    /// Parses the index in one pass: entries are built as the `tensors` array is
    /// read (no tree of the whole document), and a repeated key stops the parse
    /// at once, so memory stays proportional to the index's distinct entries.
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
                    var seen: Set<String> = []
                    skipSpace()
                    try expect("[")
                    skipSpace()
                    if try !consume("]") {
                        while true {
                            guard let entry = IndexParser.entry(try parse(depth: 2)) else { throw Failure() }
                            guard seen.insert(entry.key).inserted else { return .duplicate(entry.key) }
                            list.append(entry)
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
