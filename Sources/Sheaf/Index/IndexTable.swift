import Glibc

/// One tensor of a checked index (§8), compact (72 bytes: a file of 10,000
/// tensors keeps 0.7 MB of them): what ``SheafFile/Entry`` holds, with the
/// key, shape and block checksums in the table's shared arrays and optional
/// members stored as sentinels.
struct IndexRecord {
    var checksum: UInt64
    var byteCount: Int
    /// -1 when the index records no offset (offsets are checked non-negative).
    private var storedOffset: Int
    private var storedMetadataChecksum: UInt64
    /// 0 without block checksums (a block size is checked positive).
    private var storedBlockSize: Int
    private var arenaStart: Int
    /// -1 unless packed.
    private var arena: Int32
    /// The dimensions, at `shapeStart` of ``IndexTable/dimensions``.
    var shapeStart: Int32
    /// The block checksums, at `blocksStart` of ``IndexTable/blockChecksums``.
    var blocksStart: Int32
    var blocksCount: Int32
    /// The position of the key this one is tied to, or -1.
    var owner: Int32
    /// The rank (at most ``Shape/maxRank``).
    private var rank: UInt8
    var dtype: DType
    var storage: StorageKind
    var hasMetadata: Bool
    private var hasMetadataChecksum: Bool

    init(checksum: UInt64, byteCount: Int, offset: Int?, metadataChecksum: UInt64?, blockSize: Int?, packed: PackedPlacement?,
         shapeStart: Int32, shapeCount: Int32, blocksStart: Int32, blocksCount: Int32, owner: Int32,
         dtype: DType, storage: StorageKind, hasMetadata: Bool) {
        self.checksum = checksum
        self.byteCount = byteCount
        self.storedOffset = offset ?? -1
        self.storedMetadataChecksum = metadataChecksum ?? 0
        self.hasMetadataChecksum = metadataChecksum != nil
        self.storedBlockSize = blockSize ?? 0
        self.arena = packed.map { Int32($0.arena) } ?? -1
        self.arenaStart = packed?.start ?? 0
        self.shapeStart = shapeStart
        self.rank = UInt8(shapeCount)
        self.blocksStart = blocksStart
        self.blocksCount = blocksCount
        self.owner = owner
        self.dtype = dtype
        self.storage = storage
        self.hasMetadata = hasMetadata
    }

    var offset: Int? { storedOffset < 0 ? nil : storedOffset }
    var metadataChecksum: UInt64? { hasMetadataChecksum ? storedMetadataChecksum : nil }
    var blockSize: Int? { storedBlockSize == 0 ? nil : storedBlockSize }
    var packed: PackedPlacement? { arena < 0 ? nil : PackedPlacement(arena: Int(arena), start: arenaStart) }
    var shapeCount: Int32 { Int32(rank) }
    /// Where the dimensions lie in ``IndexTable/dimensions``.
    var shape: Range<Int> { Int(shapeStart)..<Int(shapeStart) + Int(rank) }
    /// Where the block checksums lie in ``IndexTable/blockChecksums``.
    var blocks: Range<Int> { Int(blocksStart)..<Int(blocksStart + blocksCount) }
}

/// A checked index: every entry's values in flat arrays, the keys' bytes back
/// to back, and a hash table from key to position. Built at open in one pass
/// with no string or array made per entry; ``SheafFile/Entry`` values are made
/// when asked for.
final class IndexTable: Sendable {
    let records: [IndexRecord]
    /// Every key's UTF-8 bytes, back to back; key `i` is `keyStarts[i]..<keyStarts[i + 1]`.
    let keyBytes: [UInt8]
    let keyStarts: [Int]
    let dimensions: [Int]
    let blockChecksums: [UInt64]
    let lookup: KeyLookup

    init(records: [IndexRecord], keyBytes: [UInt8], keyStarts: [Int], dimensions: [Int], blockChecksums: [UInt64], lookup: KeyLookup) {
        self.records = records
        self.keyBytes = keyBytes
        self.keyStarts = keyStarts
        self.dimensions = dimensions
        self.blockChecksums = blockChecksums
        self.lookup = lookup
    }

    var count: Int { records.count }

    /// The key at `position`.
    func key(at position: Int) -> String {
        keyBytes.withUnsafeBufferPointer {
            String(decoding: UnsafeBufferPointer(rebasing: $0[keyStarts[position]..<keyStarts[position + 1]]), as: UTF8.self)
        }
    }

    /// The shape of the tensor at `position`.
    func shape(at position: Int) -> [Int] {
        Array(dimensions[records[position].shape])
    }

    /// The entry at `position`.
    /// - Complexity: O(key length + rank + block count).
    func entry(at position: Int) -> SheafFile.Entry {
        let record = records[position]
        return SheafFile.Entry(key: key(at: position), dtype: record.dtype, shape: shape(at: position), byteCount: record.byteCount,
                               storage: record.storage, offset: record.offset, checksum: record.checksum,
                               tiedTo: record.owner < 0 ? nil : key(at: Int(record.owner)), hasMetadata: record.hasMetadata,
                               metadataChecksum: record.metadataChecksum, blockSize: record.blockSize,
                               blockChecksums: record.blocksCount == 0 ? [] : Array(blockChecksums[record.blocks]),
                               packed: record.packed)
    }

    /// The position of `key`, or nil.
    /// - Complexity: O(key length) expected; O(number of keys) for a key that
    ///   is not ASCII looked up in a file whose keys all are (such a key may
    ///   still equal one of them as a `String`, e.g. U+212A KELVIN SIGN and "K").
    func position(of key: String) -> Int? {
        if let strings = lookup.strings { return strings[key] }
        guard key.utf8.allSatisfy({ $0 < 0x80 }) else {
            return (0..<count).first { self.key(at: $0) == key }
        }
        var bytes = key
        return bytes.withUTF8 { lookup.position(of: $0, in: keyBytes, keyStarts) }
    }
}

/// The table from key to position of an index.
///
/// When every key is ASCII, two keys are equal as `String`s exactly when
/// their bytes are, so keys are found by their bytes in an open-addressing
/// table (hashed with the standard library's per-process seeded `Hasher`, so
/// a file cannot choose keys that collide); otherwise a `[String: Int]`
/// gives keys `String`'s equality (canonical equivalence), as a state dict's
/// keys have.
struct KeyLookup: Sendable {
    /// Positions, -1 where empty; a power of two at least twice the key count.
    private(set) var slots: [Int32]
    /// The table for keys that are not all ASCII.
    private(set) var strings: [String: Int]?
    /// The keys in `slots`.
    private var count = 0

    /// An empty table for ASCII keys, sized for `capacity` of them.
    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        slots = [Int32](repeating: -1, count: size)
        strings = nil
    }

    /// Turns to a `[String: Int]` (on the first key that is not ASCII),
    /// holding `keys` at their positions.
    mutating func useStrings(_ keys: [String]) {
        slots = []
        var table: [String: Int] = Dictionary(minimumCapacity: keys.count * 2)
        for (position, key) in keys.enumerated() { table[key] = position }
        strings = table
    }

    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        return hasher.finalize()
    }

    /// The position of the key whose bytes are `bytes` (ASCII tables only).
    func position(of bytes: UnsafeBufferPointer<UInt8>, in keyBytes: [UInt8], _ keyStarts: [Int]) -> Int? {
        probe(bytes, keyBytes, keyStarts).found
    }

    /// Adds the key whose bytes are `bytes` at `position` (ASCII tables
    /// only), or, when a key with those bytes is there already, returns its position.
    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>, at position: Int, in keyBytes: [UInt8], _ keyStarts: [Int]) -> Int? {
        if (count + 1) * 2 > slots.count { grow(keyBytes, keyStarts) }
        let (slot, found) = probe(bytes, keyBytes, keyStarts)
        if let found { return found }
        slots[slot] = Int32(position)
        count += 1
        return nil
    }

    /// The slot holding the key whose bytes are `bytes` and its position, or
    /// the empty slot where it would go.
    private func probe(_ bytes: UnsafeBufferPointer<UInt8>, _ keyBytes: [UInt8], _ keyStarts: [Int]) -> (slot: Int, found: Int?) {
        let mask = slots.count - 1
        var slot = Self.hash(bytes) & mask
        return keyBytes.withUnsafeBufferPointer { keys in
            keyStarts.withUnsafeBufferPointer { starts in
                slots.withUnsafeBufferPointer { slots in
                    while slots[slot] >= 0 {
                        let position = Int(slots[slot])
                        let start = starts[position], end = starts[position + 1]
                        if end - start == bytes.count,
                           bytes.isEmpty || memcmp(keys.baseAddress! + start, bytes.baseAddress!, bytes.count) == 0 {
                            return (slot, position)
                        }
                        slot = (slot + 1) & mask
                    }
                    return (slot, nil)
                }
            }
        }
    }

    /// Doubles the slots, placing again the `count` keys there are.
    private mutating func grow(_ keyBytes: [UInt8], _ keyStarts: [Int]) {
        var larger = [Int32](repeating: -1, count: slots.count * 2)
        let mask = larger.count - 1
        keyBytes.withUnsafeBufferPointer { keys in
            for position in 0..<count {
                var slot = Self.hash(UnsafeBufferPointer(rebasing: keys[keyStarts[position]..<keyStarts[position + 1]])) & mask
                while larger[slot] >= 0 { slot = (slot + 1) & mask }
                larger[slot] = Int32(position)
            }
        }
        slots = larger
    }

    /// Adds `key` at `position` (tables for keys that are not all ASCII).
    mutating func insert(_ key: String, at position: Int) {
        strings?[key] = position
    }
}
