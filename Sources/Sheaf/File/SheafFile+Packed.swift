import SheafHDF5

/// One arena of `/_sheaf_packed` (Spec §18), as its dataset describes it.
struct PackedArena: Equatable {
    var dtype: DType
    /// Length in elements.
    var length: Int
    /// File offset of its raw data.
    var offset: Int
    /// Object address, to compare with what region references name.
    var address: UInt64
}

extension SheafFile {
    /// Opens arena `number` of `/_sheaf_packed` and checks it against §18: a
    /// 1-d contiguous dataset inside this file, no filters, a known
    /// `sheaf_dtype` whose little-endian type it has, raw data 64-byte aligned.
    func arena(_ number: Int, key: String?) throws(SheafError) -> PackedArena {
        let name = String(number)
        let object = "/\(FormatLayout.packedGroup)/\(name)"
        return try guarded(key) { () throws -> PackedArena in
            let root = try file.root()
            guard try root.contains(FormatLayout.packedGroup) else {
                throw SheafError(.invalidIndex, "the index places this key in arena \(number) but \(object) does not exist")
            }
            let group = try root.openGroup(FormatLayout.packedGroup)
            guard try group.contains(name) else {
                throw SheafError(.invalidIndex, "the index places this key in arena \(number) but \(object) does not exist")
            }
            let dataset = try group.openDataset(name)
            guard case .string(let dtypeName)? = try dataset.attributes.read(FormatLayout.dtypeAttribute),
                  let dtype = DType.named[dtypeName] else {
                throw SheafError(.invalidFile, "\(object) lacks a known \(FormatLayout.dtypeAttribute) attribute")
            }
            let info = try dataset.datatype().describe()
            guard dtype.isCanonical(info) else {
                throw SheafError(.dtypeMismatch, "\(object) says \(dtype), but its HDF5 type (\(info.size)-byte \(info.typeClass)) is not \(dtype) little-endian (§5)")
            }
            guard let shape = try dataset.shape(), shape.count == 1 else {
                throw SheafError(.invalidFile, "\(object) must be a 1-d dataset (§18)")
            }
            let (layout, filters) = try dataset.layout()
            guard layout == .contiguous, filters.isEmpty, let offset = try dataset.offset(),
                  offset <= UInt64(fileSize), offset % UInt64(FormatLayout.alignment) == 0 else {
                throw SheafError(.invalidFile, "\(object) must be contiguous, unfiltered, allocated and \(FormatLayout.alignment)-byte aligned inside the file (§18)")
            }
            return PackedArena(dtype: dtype, length: shape[0], offset: Int(offset), address: try dataset.objectAddress())
        }
    }

    /// ``arena(_:key:)``, each arena opened once per `cache`.
    func arena(_ number: Int, key: String?, cache: inout [Int: PackedArena]) throws(SheafError) -> PackedArena {
        if let known = cache[number] { return known }
        let arena = try arena(number, key: key)
        cache[number] = arena
        return arena
    }

    /// Checks a packed entry against its arena: same dtype, inside it, at the
    /// offset the index records.
    func checkPacked(_ entry: Entry, in arena: PackedArena) throws(SheafError) {
        guard let placement = entry.packed, let offset = entry.offset else { return }
        let count = entry.byteCount / max(entry.dtype.itemSize, 1)
        let object = "/\(FormatLayout.packedGroup)/\(placement.arena)"
        guard arena.dtype == entry.dtype else {
            throw SheafError(.dtypeMismatch, file: path, key: entry.key, "index says \(entry.dtype), arena \(object) holds \(arena.dtype)")
        }
        guard placement.start <= arena.length, count <= arena.length - placement.start else {
            throw SheafError(.invalidIndex, file: path, key: entry.key,
                             "elements \(placement.start) + \(count) run past the end of arena \(object) (\(arena.length) elements)")
        }
        guard offset == arena.offset + placement.start * entry.dtype.itemSize else {
            throw SheafError(.invalidIndex, file: path, key: entry.key,
                             "index says offset \(offset), element \(placement.start) of arena \(object) is at \(arena.offset + placement.start * entry.dtype.itemSize)")
        }
    }

    /// ``checkDataset(_:)`` for the entries at `positions`, each arena opened
    /// once; returns the metadata of those that have it.
    /// - Complexity: O(entries + arenas) HDF5 object opens.
    package func checkDatasets(_ positions: [Int]) throws(SheafError) -> [Int: Metadata] {
        var arenas: [Int: PackedArena] = [:]
        var result: [Int: Metadata] = [:]
        for position in positions {
            let entry = entries[position]
            if let placement = entry.packed {
                try checkPacked(entry, in: try arena(placement.arena, key: entry.key, cache: &arenas))
                continue
            }
            let metadata = try checkDataset(entry)
            if !metadata.isEmpty { result[position] = metadata }
        }
        return result
    }

    /// The rules of §18 over the whole file, for ``verify()``: every packed
    /// entry inside its arena at its offset, no two untied ones overlapping,
    /// no arena unused, `refs` and `keys` naming exactly the packed entries in
    /// index order, and every packed tensor's checksum (and block checksums).
    func verifyPacked(report: (String?, SheafError.Code, String) -> Void) {
        let packed = table.records.indices.filter { table.records[$0].packed != nil }
        let hasGroup = (try? hdf5(path, { () throws(HDF5Error) in try file.root().contains(FormatLayout.packedGroup) })) ?? false
        guard !packed.isEmpty else {
            if hasGroup { report(nil, .invalidFile, "/\(FormatLayout.packedGroup) exists but the index lists no packed tensor") }
            return
        }
        let packedEntries = packed.map { entries[$0] }
        var arenas: [Int: PackedArena] = [:]
        var broken: Set<Int> = []
        var spans: [(arena: Int, start: Int, end: Int, key: String)] = []
        for entry in packedEntries {
            guard let placement = entry.packed, !broken.contains(placement.arena) else { continue }
            do throws(SheafError) {
                try checkPacked(entry, in: try arena(placement.arena, key: entry.key, cache: &arenas))
                guard entry.tiedTo == nil else { continue }
                spans.append((placement.arena, placement.start, placement.start + entry.byteCount / entry.dtype.itemSize, entry.key))
                let tensor = try Self.readIndexed(entry, descriptor: descriptor, path: path, algorithm: checksumAlgorithm, verify: true)
                try checkBlocks(tensor, entry)
            } catch {
                if arenas[placement.arena] == nil { broken.insert(placement.arena) }
                report(error.key ?? entry.key, error.code, error.message)
            }
        }
        spans.sort { ($0.arena, $0.start) < ($1.arena, $1.start) }
        for (previous, next) in zip(spans, spans.dropFirst()) where previous.arena == next.arena && next.start < previous.end {
            report(next.key, .invalidIndex, "overlaps '\(previous.key)' in arena /\(FormatLayout.packedGroup)/\(next.arena); untied keys are distinct tensors (§7)")
        }
        do throws(SheafError) {
            let links = try hdf5(path) { () throws(HDF5Error) in
                try file.root().openGroup(FormatLayout.packedGroup).links(limit: FormatLayout.maxTensors)
            }
            let used = Set(arenas.keys.map(String.init)).union(broken.map(String.init))
            for (name, kind) in links where name != FormatLayout.packedReferences && name != FormatLayout.packedKeys {
                if kind != .hard {
                    report(nil, .unsupported, "/\(FormatLayout.packedGroup)/\(name) is not a hard link")
                } else if !used.contains(name) {
                    report(nil, .invalidFile, "/\(FormatLayout.packedGroup)/\(name) is not an arena any packed tensor lies in (§18)")
                }
            }
            try verifyReferences(packedEntries, arenas: arenas, report: report)
        } catch {
            report(error.key, error.code, error.message)
        }
    }

    /// `refs` and `keys` of `/_sheaf_packed` against the packed entries, in index order.
    private func verifyReferences(_ packed: [Entry], arenas: [Int: PackedArena],
                                  report: (String?, SheafError.Code, String) -> Void) throws(SheafError) {
        let group = "/\(FormatLayout.packedGroup)"
        let (keys, references) = try hdf5(path) { () throws(HDF5Error) -> ([String]?, [HDF5RegionReferenceInfo]?) in
            let packedGroup = try file.root().openGroup(FormatLayout.packedGroup)
            // A valid `keys` is as wide as the longest packed key: bounded by that, not by what the file claims.
            let longest = packed.map(\.key.utf8.count).max() ?? 1
            let keys = try packedGroup.contains(FormatLayout.packedKeys)
                ? try packedGroup.strings(FormatLayout.packedKeys, limit: packed.count, width: longest + 64,
                                          totalBytes: (longest + 64) * packed.count) : nil
            let references = try packedGroup.contains(FormatLayout.packedReferences)
                ? try packedGroup.regionReferences(FormatLayout.packedReferences, limit: packed.count) : nil
            return (keys, references)
        }
        let expected = packed.map(\.key)
        if keys != expected {
            report(nil, .invalidFile, "\(group)/\(FormatLayout.packedKeys) must list the \(packed.count) packed keys in index order as fixed-length strings (§18)")
        }
        guard let references, references.count == packed.count else {
            report(nil, .invalidFile, "\(group)/\(FormatLayout.packedReferences) must hold one region reference per packed key (\(packed.count)) (§18)")
            return
        }
        for (reference, entry) in zip(references, packed) {
            guard let placement = entry.packed, let arena = arenas[placement.arena] else { continue }
            let count = entry.byteCount / entry.dtype.itemSize
            if reference.address != arena.address || reference.block != placement.start..<(placement.start + count) {
                report(entry.key, .invalidFile,
                       "its region reference in \(group)/\(FormatLayout.packedReferences) does not select elements \(placement.start)..<\(placement.start + count) of \(group)/\(placement.arena)")
            }
        }
    }
}
