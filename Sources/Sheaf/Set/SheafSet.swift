#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A model larger than one file, as a set of ordinary Sheaf files (shards)
/// and a JSON index naming them (Spec/FORMAT.md §16): `NAME.sheaf.index.json`
/// beside `NAME-00001-of-0000N.sheaf`, …. The set reads as one state dict.
///
/// Opening reads the set index and every shard's own index (no tensor data),
/// checks each shard is the one the set recorded (by its index checksum), and
/// that the keys of the shards are exactly the set's. Each shard stays open.
public final class SheafSet {
    /// The set index's path.
    public let path: String
    public let kind: SheafKind
    /// The set's metadata (stored in its first shard).
    public let metadata: Metadata
    /// The nesting of the checkpoint, when the set index records one.
    public let structure: CheckpointNode?
    /// Every key's entry, in the set's order.
    public let entries: [SheafFile.Entry]
    /// Each shard's file name, in order.
    public let shardNames: [String]
    private let shards: [Shard]
    /// For each key: its shard.
    private let locations: [String: Int]

    /// One open shard.
    final class Shard {
        let file: SheafFile
        init(_ file: consuming SheafFile) { self.file = file }
    }

    /// The set index document.
    struct Document: Codable {
        struct ShardRecord: Codable, Equatable {
            var file: String
            /// `ALGORITHM:HEX` of the shard's index bytes.
            var index_checksum: String
            var tensors: Int
        }
        var sheaf_set: String
        var kind: SheafKind
        var shards: [ShardRecord]
        /// Every key in the set's order, with its shard's file name: `[KEY, FILE]` pairs.
        var keys: [[String]]
        /// The checkpoint's nesting over the whole set (§8.1's tree).
        var structure: CheckpointNode?
    }

    /// The version of the set index format.
    public static let setVersion = "1.1"
    /// The largest set index read.
    static let maxIndexBytes = 256 << 20

    /// Whether the file at `path` is a set index: a JSON object (its first
    /// non-space byte is `{`; a Sheaf file starts with the HDF5 signature).
    public static func isSetIndex(path: String) -> Bool {
        guard let (descriptor, size) = try? FileDescriptor.openRegularFile(path) else { return false }
        defer { descriptor.close() }
        guard size <= maxIndexBytes else { return false }
        var prefix = [UInt8](repeating: 0, count: min(size, 64))
        let count = prefix.withUnsafeMutableBytes { (try? descriptor.read(fromAbsoluteOffset: 0, into: $0)) ?? 0 }
        guard prefix.prefix(count).first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) == UInt8(ascii: "{") else { return false }
        var bytes = [UInt8](repeating: 0, count: size)
        let read = bytes.withUnsafeMutableBytes { (try? descriptor.read(fromAbsoluteOffset: 0, into: $0)) ?? 0 }
        return read == size && isSetIndex(bytes)
    }

    /// Whether the JSON value is a set index (it has a `sheaf_set` member).
    package static func isSetIndex(_ bytes: [UInt8]) -> Bool {
        guard case .object(let members)? = JSONReader.value(of: bytes) else { return false }
        return members.contains { $0.0 == "sheaf_set" }
    }

    /// Opens the set whose index is at `path`.
    /// - Throws: ``SheafError``: `invalidIndex` for a malformed index,
    ///   `invalidFile` naming a shard that is missing or not the one recorded,
    ///   and the shards' own errors.
    /// - Complexity: O(keys); no tensor data is read.
    public init(path: String) throws(SheafError) {
        self.path = path
        let (descriptor, size) = try FileDescriptor.openRegularFile(path)
        defer { descriptor.close() }
        guard size <= Self.maxIndexBytes else {
            throw SheafError(.limitExceeded, file: path, "the set index is \(size) bytes, over the \(Self.maxIndexBytes)-byte limit")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        let read = bytes.withUnsafeMutableBytes { (try? descriptor.read(fromAbsoluteOffset: 0, into: $0)) ?? -1 }
        guard read == size else { throw SheafError(.io, file: path, "cannot read the set index") }
        let parsed = try Self.parse(bytes, path: path)
        let folder = AtomicFile.split(path).0
        var shards: [Shard] = []
        var locations: [String: Int] = [:]
        for (number, record) in parsed.shards.enumerated() {
            let shardPath = folder + "/" + record.file
            guard FileDescriptor.exists(shardPath) else {
                throw SheafError(.invalidFile, file: path, "shard \(record.file) is missing: the set is incomplete")
            }
            let file = try SheafFile(path: shardPath)
            guard record.checksum == ShardChecksum(algorithm: file.checksumAlgorithm, value: file.indexChecksum) else {
                throw SheafError(.checksumMismatch, file: path,
                                 "shard \(record.file) is not the file this set was written with (its index does not match the recorded checksum \(record.checksum.text))")
            }
            guard file.entries.count == record.tensors else {
                throw SheafError(.invalidFile, file: path, "shard \(record.file) holds \(file.entries.count) tensors, the set says \(record.tensors)")
            }
            for entry in file.entries {
                guard locations.updateValue(number, forKey: entry.key) == nil else {
                    throw SheafError(.invalidFile, file: path, key: entry.key, "key in two shards (the second: \(record.file))")
                }
            }
            shards.append(Shard(file))
        }
        var entries: [SheafFile.Entry] = []
        entries.reserveCapacity(parsed.weightMap.count)
        for (key, shardName) in parsed.weightMap {
            guard let shard = locations[key], parsed.shards[shard].file == shardName,
                  let entry = try? shards[shard].file.entry(key) else {
                throw SheafError(.invalidFile, file: path, key: key, "the set index places this key in \(shardName), which does not hold it")
            }
            entries.append(entry)
        }
        guard entries.count == locations.count else {
            let listed = Set(parsed.weightMap.map(\.key))
            let extra = locations.keys.filter { !listed.contains($0) }.min() ?? ""
            throw SheafError(.invalidFile, file: path, key: extra, "a shard holds this key, which the set index does not list")
        }
        kind = parsed.kind
        metadata = shards.first?.file.metadata ?? [:]
        if let tree = parsed.structure {
            try SheafWriter.validate(tree, keys: Set(locations.keys), metadata: metadata, file: path)
        }
        structure = parsed.structure
        self.entries = entries
        self.shards = shards
        self.locations = locations
        shardNames = parsed.shards.map(\.file)
    }

    /// The set index, parsed and checked.
    private static func parse(_ bytes: [UInt8], path: String) throws(SheafError)
        -> (kind: SheafKind, shards: [(file: String, checksum: ShardChecksum, tensors: Int)],
            weightMap: [(key: String, shard: String)], structure: CheckpointNode?) {
        func bad(_ message: String) -> SheafError { SheafError(.invalidIndex, file: path, "set index: \(message)") }
        guard case .object(let members)? = JSONReader.value(of: bytes) else { throw bad("not a JSON object") }
        var version: String?, kind: SheafKind?, shards: [(file: String, checksum: ShardChecksum, tensors: Int)]?
        var weightMap: [(key: String, shard: String)]?
        var structure: CheckpointNode?
        for (name, value) in members {
            switch (name, value) {
            case ("sheaf_set", .string(let text)): version = text
            case ("kind", .string(let text)): kind = SheafKind(rawValue: text)
            case ("shards", .array(let items)):
                var list: [(file: String, checksum: ShardChecksum, tensors: Int)] = []
                for item in items {
                    guard case .object(let fields) = item,
                          case .string(let file)? = fields.first(where: { $0.0 == "file" })?.1,
                          case .string(let checksum)? = fields.first(where: { $0.0 == "index_checksum" })?.1,
                          case .integer(let tensors)? = fields.first(where: { $0.0 == "tensors" })?.1 else {
                        throw bad("each shard needs file, index_checksum and tensors")
                    }
                    guard let parsed = ShardChecksum(checksum) else {
                        throw bad("shard \(file): index_checksum '\(checksum)' is not ALGORITHM:HEX")
                    }
                    guard isPlainName(file) else { throw bad("shard '\(file)' is not a file name in the index's folder") }
                    list.append((file, parsed, tensors))
                }
                shards = list
            case ("keys", .array(let pairs)):
                var map: [(key: String, shard: String)] = []
                for pair in pairs {
                    guard case .array(let parts) = pair, parts.count == 2, case .string(let key) = parts[0], case .string(let file) = parts[1] else {
                        throw bad("keys holds [KEY, SHARD FILE] pairs")
                    }
                    map.append((key, file))
                }
                weightMap = map
            case ("structure", let tree):
                guard let node = CheckpointNode.parse(tree) else { throw bad("structure is not a checkpoint structure (§8.1)") }
                structure = node
            default: continue  // unknown members are ignored, as in a file's index
            }
        }
        guard let version else { throw bad("no sheaf_set version") }
        guard version.split(separator: ".").first == "1" else {
            throw SheafError(.unsupportedVersion, file: path, "set index version \(version); this reader supports 1.x")
        }
        guard let kind, let shards, let weightMap else { throw bad("needs kind, shards and keys") }
        guard Set(shards.map(\.file)).count == shards.count else { throw bad("a shard is listed twice") }
        return (kind, shards, weightMap, structure)
    }

    /// A file name with no folder part.
    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.utf8.contains(UInt8(ascii: "/")) && !name.utf8.contains(0)
    }

    /// The keys in order.
    public var keys: [String] { entries.map(\.key) }

    /// The tensor of `key`, from its shard.
    public func tensor(_ key: String, verifyChecksum: Bool = true) throws(SheafError) -> Tensor {
        guard let shard = locations[key] else {
            throw SheafError(.keyNotFound, file: path, key: key, "no such key; the set has \(entries.count) keys")
        }
        return try shards[shard].file.tensor(key, verifyChecksum: verifyChecksum)
    }

    /// Part of the tensor of `key`, from its shard: see
    /// ``SheafFile/tensor(_:slice:verifyChecksum:)``.
    public func tensor(_ key: String, slice ranges: [Range<Int>], verifyChecksum: Bool = true) throws(SheafError) -> Tensor {
        guard let shard = locations[key] else {
            throw SheafError(.keyNotFound, file: path, key: key, "no such key; the set has \(entries.count) keys")
        }
        return try shards[shard].file.tensor(key, slice: ranges, verifyChecksum: verifyChecksum)
    }

    /// Every tensor, in the set's order, with the set's metadata.
    /// - Complexity: O(total bytes) time and memory.
    public func stateDict(verifyChecksums: Bool = true) throws(SheafError) -> StateDict {
        var stateDict = StateDict()
        for entry in entries {
            if let owner = entry.tiedTo, let tensor = stateDict[owner] { stateDict[entry.key] = tensor; continue }
            stateDict[entry.key] = try tensor(entry.key, verifyChecksum: verifyChecksums)
        }
        stateDict.metadata = metadata
        return stateDict
    }

    /// Opens the set and verifies every shard (every rule of §§1-14, every
    /// checksum); problems of a shard name it.
    public static func verify(path: String) -> [VerificationProblem] {
        let set: SheafSet
        do { set = try SheafSet(path: path) } catch {
            return [VerificationProblem(key: error.key, message: error.message, code: error.code)]
        }
        return verify(set.shards, named: set.shardNames)
    }

    /// Every shard's own verification problems, each message naming its shard.
    static func verify(_ shards: [Shard], named names: [String]) -> [VerificationProblem] {
        zip(names, shards).flatMap { name, shard in
            shard.file.verify().map { VerificationProblem(key: $0.key, message: "shard \(name): \($0.message)", code: $0.code) }
        }
    }

    /// Writes `stateDict` as a set of shards of at most `shardSize` bytes each
    /// (keys in order; a tensor larger than the limit alone in its shard) and
    /// the set index at `path` (`NAME.sheaf.index.json`; shards are
    /// `NAME-0000k-of-0000N.sheaf` beside it). Each shard is written
    /// atomically, the index last: until it is in place, the set does not exist.
    /// A tied key whose owner falls in an earlier shard is written as its own copy.
    /// - Returns: the shard file names.
    @discardableResult
    public static func write(_ stateDict: StateDict, kind: SheafKind = .dict, structure: CheckpointNode? = nil,
                             to path: String, shardSize: Int, options: SaveOptions = .default,
                             replace: Bool = true) throws(SheafError) -> [String] {
        let pairs = stateDict.map { ($0.key, $0.tensor) }
        return try write(kind: kind, keys: pairs.map(\.0), tiedTo: SheafWriter.ties(pairs).map { $0?.owner },
                         byteCounts: pairs.map(\.1.byteCount), metadata: stateDict.metadata, structure: structure,
                         to: path, shardSize: shardSize, options: options, replace: replace) { pairs[$0].1 }
    }

    /// The streaming form of ``write(_:kind:structure:to:shardSize:options:replace:)``:
    /// `tensor(i)` gives key `i`'s tensor when its shard is written.
    public static func write(kind: SheafKind, keys: [String], tiedTo: [String?], byteCounts: [Int], metadata: Metadata,
                             structure: CheckpointNode? = nil, to path: String, shardSize: Int,
                             options: SaveOptions = .default, replace: Bool = true,
                             tensor: (Int) throws(SheafError) -> Tensor) throws(SheafError) -> [String] {
        guard shardSize > 0 else { throw SheafError(.invalidArgument, file: path, "the shard size must be positive") }
        guard replace || !FileDescriptor.exists(path) else {
            throw SheafError(.io, file: path, "it exists; pass replace: true to replace it (still atomically)", remedy: .replace)
        }
        let (folder, indexName) = AtomicFile.split(path)
        let stem = indexName.hasSuffix(".sheaf.index.json") ? String(indexName.dropLast(".sheaf.index.json".count))
            : indexName.hasSuffix(".json") ? String(indexName.dropLast(5)) : indexName
        // Consecutive ranges, each at most shardSize bytes (ties cost nothing in their owner's shard).
        var ranges: [Range<Int>] = []
        var start = 0, size = 0
        var current: Set<String> = []
        for index in keys.indices {
            // A tie is free in its owner's shard; anywhere else it is a copy.
            func cost() -> Int { tiedTo[index].map { current.contains($0) } == true ? 0 : byteCounts[index] }
            if index > start, cost() > 0, size + cost() > shardSize {
                ranges.append(start..<index)
                start = index
                size = 0
                current = []
            }
            size += cost()
            current.insert(keys[index])
        }
        ranges.append(start..<keys.count)
        func five(_ n: Int) -> String { let digits = String(n); return String(repeating: "0", count: max(0, 5 - digits.count)) + digits }
        let names = ranges.indices.map { "\(stem)-\(five($0 + 1))-of-\(five(ranges.count)).sheaf" }
        var records: [Document.ShardRecord] = []
        var weightMap: [(key: String, shard: String)] = []
        for (number, range) in ranges.enumerated() {
            let inShard = Set(keys[range])
            // A tie to a key of an earlier shard becomes this shard's own copy.
            let ties = range.map { index in tiedTo[index].flatMap { inShard.contains($0) ? $0 : nil } }
            let shardPath = folder + "/" + names[number]
            try SheafWriter.write(kind: .dict, keys: Array(keys[range]), tiedTo: ties,
                                  metadata: number == 0 ? metadata : [:],
                                  to: shardPath, options: options, replace: true) { (local: Int) throws(SheafError) -> Tensor in
                try tensor(range.lowerBound + local)
            }
            let written = try SheafFile(path: shardPath)
            records.append(.init(file: names[number], index_checksum: ShardChecksum(algorithm: written.checksumAlgorithm, value: written.indexChecksum).text,
                                 tensors: range.count))
            for key in keys[range] { weightMap.append((key, names[number])) }
        }
        if let structure { try SheafWriter.validate(structure, keys: Set(keys), metadata: metadata, file: path) }
        let document = Document(sheaf_set: setVersion, kind: kind, shards: records, keys: weightMap.map { [$0.key, $0.shard] },
                                structure: structure)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json: Data
        do { json = try encoder.encode(document) } catch { throw SheafError(.invalidArgument, file: path, "cannot encode the set index: \(error)") }
        do {
            try AtomicFile.write(to: path, replace: replace) { temporary in
                let descriptor = try FileDescriptor.create(temporary)
                defer { descriptor.close() }
                do { try json.withUnsafeBytes { try descriptor.writeAll($0) } } catch let error as FileDescriptor.Errno {
                    throw error.sheafError("write failed", file: path)
                }
            }
        } catch let error as SheafError { throw error } catch { throw SheafError(.io, file: path, "\(error)") }
        return names
    }
}
