import Glibc

/// Reads the index document (Spec/FORMAT.md §8) in one pass into a
/// ``RawIndex``: each entry's members as positions in the index's bytes and
/// numbers in shared arrays, with no string or array made per entry (what lets
/// a file of 10,000 tensors open in a few milliseconds). Falls back to
/// `JSONDecoder` (in ``SheafFile``) only to describe malformed input.
enum IndexParser {
    /// What parsing the index gave.
    enum Outcome {
        case index(RawIndex)
        /// Not JSON, or not of the form section 8 gives.
        case malformed
    }

    /// Parses the index document, or nil when the bytes are not of the expected form.
    static func document(_ bytes: [UInt8]) -> IndexDocument? {
        if case .index(let index) = parse(bytes) { return index.document() }
        return nil
    }

    /// Parses the index in one pass, keeping every entry in ``RawIndex/entries``.
    static func parse(_ bytes: [UInt8]) -> Outcome {
        guard bytes.count < Int(Int32.max) else { return .malformed }
        return bytes.withUnsafeBufferPointer { buffer in
            var scanner = IndexScanner(array: bytes, bytes: buffer)
            do { return .index(try scanner.read { $0.index.entries.append($1) }) } catch { return .malformed }
        }
    }

    /// Parses the index and checks each entry with `validator` as it is read
    /// (what a file's open does: no list of parsed entries is kept). The
    /// returned index has no ``RawIndex/entries``; `.malformed` when the bytes
    /// are not of the expected form.
    static func table(_ bytes: [UInt8], _ validator: inout IndexValidator) throws(SheafError) -> Outcome {
        guard bytes.count < Int(Int32.max) else { return .malformed }
        return try bytes.withUnsafeBufferPointer { (buffer) throws(SheafError) -> Outcome in
            var scanner = IndexScanner(array: bytes, bytes: buffer)
            do {
                return .index(try scanner.read { (scanner, entry) throws in
                    try scanner.index.unescaped.withUnsafeBufferPointer { (unescaped) throws(SheafError) in
                        try validator.add(entry, text: IndexText(source: buffer, unescaped: unescaped),
                                          dimensions: scanner.index.dimensions, blockTexts: scanner.index.blockTexts)
                    }
                    // Nothing of an entry's text is needed once it is checked.
                    scanner.index.unescaped.removeAll(keepingCapacity: true)
                    scanner.index.blockTexts.removeAll(keepingCapacity: true)
                })
            } catch let error as SheafError {
                throw error
            } catch {
                return .malformed
            }
        }
    }
}

/// A run of text of the index: `count` bytes at `start` of the index's bytes
/// or, for a string written with escapes, at `~start` (a negative `start`) of
/// the unescaped copies in ``RawIndex/unescaped``. `count` is -1 for a member
/// that is absent or null.
struct TextSpan: Equatable {
    var start: Int32
    var count: Int32

    static let absent = TextSpan(start: 0, count: -1)
    var isAbsent: Bool { count < 0 }
}

/// One entry of the index as written: nothing checked but its JSON form.
struct RawIndexEntry {
    var key = TextSpan.absent
    var dtype = TextSpan.absent
    /// The dtype's position in `DType.allCases`, or -1 for another name.
    var dtypeCode: Int16 = -1
    var storage = TextSpan.absent
    /// The storage's position in ``IndexScanner/storageNames``, or -1.
    var storageCode: Int8 = -1
    var metadata = false
    var keyIsASCII = true
    var checksum = TextSpan.absent
    var tiedTo = TextSpan.absent
    var metadataChecksum = TextSpan.absent
    /// The dimensions, at `shapeStart` of ``RawIndex/dimensions``.
    var shapeStart: Int32 = 0
    var shapeCount: Int32 = 0
    /// The block checksums, at `blocksStart` of ``RawIndex/blockTexts``; -1 when absent.
    var blocksStart: Int32 = 0
    var blocksCount: Int32 = -1
    /// Where the dimensions lie in ``RawIndex/dimensions``.
    var shape: Range<Int> { Int(shapeStart)..<Int(shapeStart + shapeCount) }
    /// Where the block checksums lie in ``RawIndex/blockTexts`` (empty when absent).
    var blocks: Range<Int> { Int(blocksStart)..<Int(blocksStart + max(blocksCount, 0)) }
    var nbytes = 0
    var offset: Int?
    var blockSize: Int?
    var arena: Int?
    var arenaStart: Int?
}

/// The index as written, from one pass of ``IndexScanner``.
struct RawIndex {
    var bytes: [UInt8]
    var entries: [RawIndexEntry] = []
    var dimensions: [Int] = []
    var blockTexts: [TextSpan] = []
    /// Strings that were written with escapes, unescaped, back to back.
    var unescaped: [UInt8] = []
    var metadataChecksum: String?
    var structure: CheckpointNode?

    /// Calls `body` with the bytes of every span.
    func withText<R, E: Error>(_ body: (IndexText) throws(E) -> R) throws(E) -> R {
        try bytes.withUnsafeBufferPointer { (source) throws(E) -> R in
            try unescaped.withUnsafeBufferPointer { (unescaped) throws(E) -> R in
                try body(IndexText(source: source, unescaped: unescaped))
            }
        }
    }

    /// The text of `span` (checked UTF-8 when it was read); nil when absent.
    func text(_ span: TextSpan) -> String? {
        guard !span.isAbsent else { return nil }
        return withText { String(decoding: $0[span], as: UTF8.self) }
    }

    /// The entries as ``IndexEntry`` values, as `JSONDecoder` would give them.
    func document() -> IndexDocument {
        let tensors = entries.map { raw in
            IndexEntry(key: text(raw.key) ?? "", dtype: text(raw.dtype) ?? "",
                       shape: Array(dimensions[raw.shape]),
                       nbytes: raw.nbytes, offset: raw.offset, storage: text(raw.storage) ?? "", checksum: text(raw.checksum) ?? "",
                       tied_to: text(raw.tiedTo), metadata: raw.metadata, metadata_checksum: text(raw.metadataChecksum),
                       block_size: raw.blockSize,
                       block_checksums: raw.blocksCount < 0 ? nil
                           : blockTexts[raw.blocks].map { text($0) ?? "" },
                       arena: raw.arena, arena_start: raw.arenaStart)
        }
        return IndexDocument(tensors: tensors, metadata_checksum: metadataChecksum, structure: structure)
    }
}

/// The one-pass reader of the index, over the bytes of `array`. Strict as
/// ``JSONReader`` is (which it hands the rare parts to: escaped strings,
/// members this version does not know, the structure): a known member of the
/// wrong type, a repeated member or a missing required one is a failure.
struct IndexScanner {
    typealias Failure = JSONReader.Failure
    let array: [UInt8]
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    var index: RawIndex

    init(array: [UInt8], bytes: UnsafeBufferPointer<UInt8>) {
        self.array = array
        self.bytes = bytes
        self.index = RawIndex(bytes: array)
    }

    /// The storage kinds, in the order of ``RawIndexEntry/storageCode``.
    static let storageNames: [StorageKind] = [.contiguous, .deflate, .packed]
    static let dtypeNames = DType.allCases.map { Array($0.rawValue.utf8) }
    static let storageNameBytes = storageNames.map { Array($0.rawValue.utf8) }

    /// Reads the whole index; each entry goes to `visit` as it is read.
    mutating func read(_ visit: (inout IndexScanner, RawIndexEntry) throws -> Void) throws -> RawIndex {
        var sawTensors = false, sawChecksum = false
        skipSpace()
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if try !consume(UInt8(ascii: "}")) {
            while true {
                skipSpace()
                let (name, _) = try string()
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                // Read as text (three names a file): an escaped spelling of a known name counts as that name.
                switch ["tensors", "metadata_checksum", "structure"].firstIndex(of: index.text(name) ?? "") {
                case 0:
                    guard !sawTensors else { throw Failure() }
                    sawTensors = true
                    try tensors(visit)
                case 1:
                    guard !sawChecksum else { throw Failure() }
                    sawChecksum = true
                    switch try generic(depth: 1) {
                    case .string(let text): index.metadataChecksum = text
                    case .null: break
                    default: throw Failure()
                    }
                case 2:
                    guard index.structure == nil, let node = CheckpointNode.parse(try generic(depth: 1)) else { throw Failure() }
                    index.structure = node
                default:
                    _ = try generic(depth: 1)  // unknown members are ignored (§8)
                }
                skipSpace()
                if try consume(UInt8(ascii: ",")) { continue }
                try expect(UInt8(ascii: "}"))
                break
            }
        }
        skipSpace()
        guard position == bytes.count, sawTensors else { throw Failure() }
        return index
    }

    private mutating func tensors(_ visit: (inout IndexScanner, RawIndexEntry) throws -> Void) throws {
        // An entry takes at least ~100 bytes of JSON: reserve once.
        let expected = Swift.min(bytes.count / 128, FormatLayout.maxTensors)
        index.dimensions.reserveCapacity(expected * 2)
        try expect(UInt8(ascii: "["))
        skipSpace()
        if try consume(UInt8(ascii: "]")) { return }
        while true {
            skipSpace()
            let entry = try entry()
            try visit(&self, entry)
            skipSpace()
            if try consume(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: "]"))
            return
        }
    }

    /// One entry of the `tensors` array. Unknown members are skipped.
    private mutating func entry() throws -> RawIndexEntry {
        try expect(UInt8(ascii: "{"))
        var entry = RawIndexEntry()
        var seen: UInt16 = 0
        func once(_ bit: UInt16) throws { guard seen & bit == 0 else { throw Failure() }; seen |= bit }
        skipSpace()
        if try !consume(UInt8(ascii: "}")) {
            while true {
                skipSpace()
                let member = try memberName()
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                switch member {
                case .key:
                    try once(1)
                    let (span, ascii) = try string()
                    entry.key = span
                    entry.keyIsASCII = ascii
                case .dtype:
                    try once(2)
                    (entry.dtype, entry.dtypeCode) = try known(Self.dtypeNames).map { ($0, Int16($1)) }
                        ?? { let span = try string().0; return (span, Int16(code(span, in: Self.dtypeNames))) }()
                case .shape:
                    try once(4)
                    entry.shapeStart = Int32(index.dimensions.count)
                    try array { (scanner: inout IndexScanner) throws in
                        guard let value = scanner.integer() else { throw Failure() }
                        scanner.index.dimensions.append(value)
                    }
                    entry.shapeCount = Int32(index.dimensions.count) - entry.shapeStart
                case .nbytes: try once(8); entry.nbytes = try requiredInteger()
                case .storage:
                    try once(16)
                    (entry.storage, entry.storageCode) = try known(Self.storageNameBytes).map { ($0, Int8($1)) }
                        ?? { let span = try string().0; return (span, Int8(code(span, in: Self.storageNameBytes))) }()
                case .checksum: try once(32); entry.checksum = try string().0
                case .metadata:
                    try once(64)
                    if position < bytes.count, bytes[position] == UInt8(ascii: "t") {
                        try literal("true")
                        entry.metadata = true
                    } else {
                        try literal("false")
                    }
                case .offset: try once(128); entry.offset = try isNull() ? nil : try requiredInteger()
                case .tiedTo: try once(256); entry.tiedTo = try isNull() ? .absent : try string().0
                case .metadataChecksum: try once(512); entry.metadataChecksum = try isNull() ? .absent : try string().0
                case .blockSize: try once(1024); entry.blockSize = try requiredInteger()
                case .blockChecksums:
                    try once(2048)
                    entry.blocksStart = Int32(index.blockTexts.count)
                    try array { (scanner: inout IndexScanner) throws in scanner.index.blockTexts.append(try scanner.string().0) }
                    entry.blocksCount = Int32(index.blockTexts.count) - entry.blocksStart
                case .arena: try once(4096); entry.arena = try requiredInteger()
                case .arenaStart: try once(8192); entry.arenaStart = try requiredInteger()
                case nil: _ = try generic(depth: 3)  // unknown members are ignored (§8)
                }
                skipSpace()
                if try consume(UInt8(ascii: ",")) { continue }
                try expect(UInt8(ascii: "}"))
                break
            }
        }
        // key, dtype, shape, nbytes, storage, checksum and metadata are required.
        guard seen & 127 == 127 else { throw Failure() }
        return entry
    }

    /// The members of an index entry this version knows.
    private enum Member: CaseIterable {
        case key, dtype, shape, nbytes, storage, checksum, metadata, offset, tiedTo, metadataChecksum, blockSize, blockChecksums, arena, arenaStart

        var name: StaticString {
            switch self {
            case .key: "key"
            case .dtype: "dtype"
            case .shape: "shape"
            case .nbytes: "nbytes"
            case .storage: "storage"
            case .checksum: "checksum"
            case .metadata: "metadata"
            case .offset: "offset"
            case .tiedTo: "tied_to"
            case .metadataChecksum: "metadata_checksum"
            case .blockSize: "block_size"
            case .blockChecksums: "block_checksums"
            case .arena: "arena"
            case .arenaStart: "arena_start"
            }
        }
    }

    /// Whether the string at the position is `member`'s name, without
    /// escapes (then read).
    private mutating func named(_ member: Member) -> Bool {
        let name = member.name
        let end = position + 1 + name.utf8CodeUnitCount
        guard end < bytes.count, bytes[end] == UInt8(ascii: "\""),
              memcmp(bytes.baseAddress! + position + 1, name.utf8Start, name.utf8CodeUnitCount) == 0 else { return false }
        position = end + 1
        return true
    }

    /// An entry member's name: one of ``Member``, or nil for any other name.
    private mutating func memberName() throws -> Member? {
        // The names this version knows, straight from their bytes: no scan for
        // the closing quote (nearly every name in an index is one of them).
        if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\"") {
            let candidates: (Member?, Member?)
            switch bytes[position + 1] {
            case UInt8(ascii: "a"): candidates = (.arena, .arenaStart)
            case UInt8(ascii: "b"): candidates = (.blockSize, .blockChecksums)
            case UInt8(ascii: "c"): candidates = (.checksum, nil)
            case UInt8(ascii: "d"): candidates = (.dtype, nil)
            case UInt8(ascii: "k"): candidates = (.key, nil)
            case UInt8(ascii: "m"): candidates = (.metadata, .metadataChecksum)
            case UInt8(ascii: "n"): candidates = (.nbytes, nil)
            case UInt8(ascii: "o"): candidates = (.offset, nil)
            case UInt8(ascii: "s"): candidates = (.shape, .storage)
            case UInt8(ascii: "t"): candidates = (.tiedTo, nil)
            default: candidates = (nil, nil)
            }
            if let first = candidates.0, named(first) { return first }
            if let second = candidates.1, named(second) { return second }
        }
        // Any other unescaped name is not one of them; an escaped spelling of
        // one counts as that name, as for any JSON reader.
        let (span, _) = try string()
        guard span.start < 0 else { return nil }
        let text = index.text(span)
        return Member.allCases.first { $0.name.description == text }
    }

    /// When the string at the position is, without escapes, one of `names`:
    /// its span and index, the position moved past it (no scan for the
    /// closing quote, no UTF-8 check: the bytes are a known ASCII name).
    private mutating func known(_ names: [[UInt8]]) -> (TextSpan, Int)? {
        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\"") else { return nil }
        let start = position + 1
        for (code, name) in names.enumerated() where name.first == bytes[start] {
            let end = start + name.count
            if end < bytes.count, bytes[end] == UInt8(ascii: "\""),
               name.withUnsafeBufferPointer({ memcmp($0.baseAddress!, bytes.baseAddress! + start, name.count) == 0 }) {
                position = end + 1
                return (TextSpan(start: Int32(start), count: Int32(name.count)), code)
            }
        }
        return nil
    }

    /// The position of `span`'s bytes in `names`, or -1 (for spellings
    /// ``known(_:)`` does not take: escaped ones, and other names).
    private func code(_ span: TextSpan, in names: [[UInt8]]) -> Int {
        index.withText { text in names.firstIndex { $0.elementsEqual(text[span]) } } ?? -1
    }

    // MARK: JSON

    private mutating func expect(_ byte: UInt8) throws {
        guard try consume(byte) else { throw Failure() }
    }

    private mutating func consume(_ byte: UInt8) throws -> Bool {
        guard position < bytes.count else { throw Failure() }
        guard bytes[position] == byte else { return false }
        position += 1
        return true
    }

    private mutating func skipSpace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count, memcmp(bytes.baseAddress! + position, word.utf8Start, count) == 0 else { throw Failure() }
        position += count
    }

    /// Whether the value at the position is `null` (then read).
    private mutating func isNull() throws -> Bool {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    /// A JSON string: its span, and whether it is ASCII. A string without
    /// escapes is its bytes in place (UTF-8 checked unless ASCII); one with
    /// escapes is unescaped by ``JSONReader`` into ``RawIndex/unescaped``.
    private mutating func string() throws -> (TextSpan, Bool) {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw Failure() }
        let quote = position
        let start = position + 1
        // The closing quote by memchr, then the bytes before it checked in one
        // pass the compiler vectorises: no escape, no control character.
        if let found = memchr(bytes.baseAddress! + start, Int32(UInt8(ascii: "\"")), bytes.count - start) {
            let end = bytes.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
            let span = UnsafeBufferPointer(rebasing: bytes[start..<end])
            var high: UInt8 = 0, low: UInt8 = 0xFF, backslash = false
            for c in span {
                high |= c
                low = Swift.min(low, c)
                backslash = backslash || c == UInt8(ascii: "\\")
            }
            if !backslash {
                guard low >= 0x20 else { throw Failure() }
                if high >= 0x80, String(validating: span, as: UTF8.self) == nil { throw Failure() }
                position = end + 1
                return (TextSpan(start: Int32(start), count: Int32(span.count)), high < 0x80)
            }
        }
        var reader = JSONReader(array)
        reader.position = quote
        let text = try reader.string()
        position = reader.position
        let offset = index.unescaped.count
        index.unescaped.append(contentsOf: text.utf8)
        return (TextSpan(start: ~Int32(offset), count: Int32(index.unescaped.count - offset)), text.utf8.allSatisfy { $0 < 0x80 })
    }

    /// A JSON integer that fits in `Int`; any other value is a failure.
    private mutating func requiredInteger() throws -> Int {
        guard let value = integer() else { throw Failure() }
        return value
    }

    /// A JSON integer that fits in `Int`; nil, with the position unchanged, otherwise.
    private mutating func integer() -> Int? {
        JSONReader.integer(bytes, at: &position)
    }

    /// An array whose elements `element` reads.
    private mutating func array(_ element: (inout IndexScanner) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        skipSpace()
        if try consume(UInt8(ascii: "]")) { return }
        while true {
            skipSpace()
            try element(&self)
            skipSpace()
            if try consume(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: "]"))
            return
        }
    }

    /// Any JSON value, read by ``JSONReader``.
    private mutating func generic(depth: Int) throws -> JSONReader.Value {
        var reader = JSONReader(array)
        reader.position = position
        let value = try reader.parse(depth: depth)
        position = reader.position
        return value
    }
}
