import SheafHDF5

/// Writes Sheaf files (Spec/FORMAT.md). Every save goes through ``write(kind:entries:metadata:to:options:)``.
public enum SheafWriter {
    /// Target size of one deflate chunk.
    static let chunkBytes = 1 << 20

    /// For each of `entries`, the earlier key it is a tie of: the first key
    /// whose tensor shares its storage, dtype and shape (nil when none).
    /// - Complexity: O(entries).
    package static func ties(_ entries: [(String, Tensor)]) -> [(owner: String, index: Int)?] {
        var owners: [ObjectIdentifier: Int] = [:]
        var result: [(owner: String, index: Int)?] = []
        result.reserveCapacity(entries.count)
        for (index, (_, tensor)) in entries.enumerated() {
            let identity = ObjectIdentifier(tensor.storage)
            if let owner = owners[identity], entries[owner].1.dtype == tensor.dtype, entries[owner].1.shape == tensor.shape {
                result.append((entries[owner].0, owner))
            } else {
                if owners[identity] == nil { owners[identity] = index }
                result.append(nil)
            }
        }
        return result
    }

    /// Writes `entries` in order as a file of `kind`, atomically. Keys whose
    /// tensors share storage (and dtype and shape) are written once, as ties.
    static func write(kind: SheafKind, entries: [(String, Tensor)], metadata: Metadata,
                      to path: String, options: SaveOptions) throws(SheafError) {
        let ties = ties(entries)
        for (index, tie) in ties.enumerated() {
            guard let tie, entries[tie.index].1.metadata != entries[index].1.metadata else { continue }
            throw SheafError(.invalidMetadata, file: path, key: entries[index].0,
                             "tied to '\(tie.owner)' but with different metadata; a tied tensor has one set of metadata")
        }
        let tiedTo = ties.map { $0?.owner }
        // Every tensor is in memory: its checksums are computed on other cores while it is written.
        let prefetch = { ChecksumPrefetch(entries.indices.map { ties[$0] == nil ? entries[$0].1 : nil },
                                          algorithm: options.checksum, blockSize: options.blockSize) }
        try write(kind: kind, keys: entries.map(\.0), tiedTo: tiedTo, metadata: metadata, structure: nil, to: path,
                  options: options, replace: true, prefetch: prefetch) { entries[$0].1 }
    }

    /// Writes a file whose tensors are produced one at a time by `tensor(i)`, so
    /// only one tensor need be in memory. `tiedTo[i]` names an earlier key that
    /// key `i` shares its tensor with (then `tensor(i)` is not called).
    /// - Complexity: O(total bytes); memory O(largest tensor + number of keys).
    /// - Parameter structure: the nesting of the checkpoint the keys and
    ///   metadata were flattened from (§8.1); every key and metadata name it
    ///   refers to must be present. The file then declares version 1.1.
    public static func write(kind: SheafKind, keys: [String], tiedTo: [String?], metadata: Metadata,
                             structure: CheckpointNode? = nil,
                             to path: String, options: SaveOptions = .default, replace: Bool = true,
                             tensor: (Int) throws(SheafError) -> Tensor) throws(SheafError) {
        try write(kind: kind, keys: keys, tiedTo: tiedTo, metadata: metadata, structure: structure, to: path,
                  options: options, replace: replace, prefetch: nil, tensor: tensor)
    }

    /// ``write(kind:keys:tiedTo:metadata:structure:to:options:replace:tensor:)``,
    /// with the checksums computed by `prefetch` (started once the arguments are
    /// checked) when the caller has every tensor in memory.
    private static func write(kind: SheafKind, keys: [String], tiedTo: [String?], metadata: Metadata,
                              structure: CheckpointNode?, to path: String, options: SaveOptions, replace: Bool,
                              prefetch: (() -> ChecksumPrefetch)?,
                              tensor: (Int) throws(SheafError) -> Tensor) throws(SheafError) {
        var names: [String] = []
        var seen: Set<String> = []
        for key in keys {
            guard seen.insert(key).inserted else {
                throw SheafError(.invalidKey, file: path, key: key, "duplicate key")
            }
            do { names.append(try FormatLayout.linkName(for: key)) } catch { throw error.with(file: path, key: key) }
        }
        try validate(metadata, file: path, key: nil)
        if let structure { try validate(structure, keys: seen, metadata: metadata, file: path) }
        if case .deflate(let level) = options.compression, !(1...9).contains(level) {
            throw SheafError(.invalidArgument, file: path, "deflate level must be 1-9, found \(level)")
        }
        if let size = options.blockSize, size <= 0 {
            throw SheafError(.invalidArgument, file: path, "block size must be positive, found \(size)")
        }
        let checksums = prefetch?()
        do {
            try AtomicFile.write(to: path, replace: replace) { temporary in
                try writeFile(kind: kind, keys: keys, tiedTo: tiedTo, names: names, metadata: metadata, structure: structure,
                              temporary: temporary, destination: path, options: options, prefetch: checksums, tensor: tensor)
            }
        } catch let error as SheafError {
            throw error
        } catch {
            throw SheafError(.io, file: path, "\(error)")
        }
    }

    /// Every key and metadata name a structure refers to exists.
    static func validate(_ structure: CheckpointNode, keys: Set<String>, metadata: Metadata, file: String) throws(SheafError) {
        let (tensors, names) = structure.references
        if let missing = tensors.first(where: { !keys.contains($0) }) {
            throw SheafError(.invalidIndex, file: file, key: missing, "the checkpoint structure refers to this key, which the file does not have")
        }
        if let missing = names.first(where: { metadata[$0] == nil }) {
            throw SheafError(.invalidIndex, file: file, "the checkpoint structure refers to metadata '\(missing)', which the file does not have")
        }
    }

    static func validate(_ metadata: Metadata, file: String, key: String?) throws(SheafError) {
        // Readers accept at most HDF5ReadLimits.maxAttributes per object, the
        // format's own (root: 4, dataset: 1) included.
        let limit = HDF5ReadLimits.maxAttributes - 4
        guard metadata.count <= limit else {
            throw SheafError(.invalidMetadata, file: file, key: key,
                             "\(metadata.count) metadata entries, over the limit of \(limit) (readers accept \(HDF5ReadLimits.maxAttributes) attributes per object)")
        }
        for name in metadata.keys {
            if name.isEmpty || name.utf8.contains(0) || name.hasPrefix(FormatLayout.reservedPrefix) || name == "." || name.contains("/") {
                throw SheafError(.invalidMetadata, file: file, key: key,
                                 "metadata name '\(name)' is not allowed: names must be non-empty, without '/' or NUL, and not start with '\(FormatLayout.reservedPrefix)'")
            }
        }
    }

    private static func writeFile(kind: SheafKind, keys: [String], tiedTo: [String?], names: [String], metadata: Metadata,
                                  structure: CheckpointNode?,
                                  temporary: String, destination: String, options: SaveOptions,
                                  prefetch: ChecksumPrefetch?,
                                  tensor load: (Int) throws(SheafError) -> Tensor) throws(SheafError) {
        let file = try hdf5(destination) { () throws(HDF5Error) in try HDF5File.create(path: temporary, alignment: FormatLayout.alignment) }
        let root = try hdf5(destination) { () throws(HDF5Error) in try file.root() }
        try hdf5(destination) { () throws(HDF5Error) in
            try root.attributes.write(.string(FormatLayout.formatName), name: FormatLayout.formatAttribute)
            try root.attributes.write(.string(kind.rawValue), name: FormatLayout.kindAttribute)
            try root.attributes.write(.string(options.checksum.rawValue), name: FormatLayout.checksumAttribute)
            try writeMetadata(metadata, on: root.attributes)
        }
        let group = try hdf5(destination) { () throws(HDF5Error) in try root.createGroup(FormatLayout.tensorsGroup) }
        var index: [IndexEntry] = []
        index.reserveCapacity(keys.count)
        var positions: [String: Int] = [:]
        var arenas = PackedArenas()
        // Checksums (computed here, or by `prefetch` on other cores) go into the
        // index once every tensor is written, with the offsets of packed ones.
        var digests = [ChecksumPrefetch.Digest?](repeating: nil, count: prefetch == nil ? keys.count : 0)
        func entry(_ key: String, _ tensor: Tensor, storage: StorageKind, offset: Int?) -> IndexEntry {
            if prefetch == nil { digests[index.count] = ChecksumPrefetch.digest(tensor, options.checksum, options.blockSize) }
            return IndexEntry(key: key, dtype: tensor.dtype.rawValue, shape: tensor.shape, nbytes: tensor.byteCount,
                              offset: offset, storage: storage.rawValue, checksum: "", tied_to: nil, metadata: !tensor.metadata.isEmpty,
                              metadata_checksum: tensor.metadata.isEmpty ? nil : MetadataDigest.checksum(tensor.metadata, options.checksum))
        }
        for (position, key) in keys.enumerated() {
            let name = names[position]
            if let owner = tiedTo[position] {
                guard let first = positions[owner], index[first].tied_to == nil else {
                    throw SheafError(.invalidKey, file: destination, key: key, "tied to '\(owner)', which is not an earlier untied key")
                }
                if index[first].storage != StorageKind.packed.rawValue {
                    try hdf5(destination, key: key) { () throws(HDF5Error) in try group.createHardLink(to: names[first], named: name) }
                }
                var tie = index[first]  // completed with its owner's checksums and placement at the end
                tie.key = key
                tie.tied_to = owner
                index.append(tie)
                positions[key] = position
                continue
            }
            let tensor: Tensor
            do { tensor = try load(position) } catch { throw error.with(file: destination, key: key) }
            try validate(tensor.metadata, file: destination, key: key)
            if let threshold = options.packingThreshold, options.compression == .none,
               tensor.byteCount > 0, tensor.byteCount < threshold, tensor.metadata.isEmpty {
                // Packed (§18): the offset, arena and start are filled in when its arena is written.
                index.append(entry(key, tensor, storage: .packed, offset: nil))
                positions[key] = position
                try arenas.add(tensor, position: index.count - 1, root: root, index: &index, destination: destination)
                continue
            }
            var storage = HDF5StorageRequest.contiguous
            if case .deflate(let level) = options.compression, tensor.count > 0, !tensor.shape.isEmpty {
                storage = .deflate(level: level, chunk: chunkShape(tensor.shape, itemSize: tensor.dtype.itemSize))
            }
            let offset: Int? = try hdf5(destination, key: key) { () throws(HDF5Error) -> Int? in
                let type = try tensor.dtype.hdf5Type()
                var dataset = try HDF5Dataset.create(in: group, name: name, type: type, shape: tensor.shape,
                                                     storage: storage, data: tensor.storage.bytes)
                // A tensor that compresses past what readers accept (a large block of
                // zeros) is stored contiguous instead, so every file this writer
                // produces reads back under the default limits.
                if storage != .contiguous,
                   !HDF5ReadLimits.allowsExpansion(stored: Int(clamping: try dataset.storageSize()), decoded: tensor.byteCount) {
                    try dataset.close()
                    try group.deleteLink(name)
                    storage = .contiguous
                    dataset = try HDF5Dataset.create(in: group, name: name, type: type, shape: tensor.shape,
                                                     storage: storage, data: tensor.storage.bytes)
                }
                try dataset.attributes.write(.string(tensor.dtype.rawValue), name: FormatLayout.dtypeAttribute)
                try writeMetadata(tensor.metadata, on: dataset.attributes)
                let offset: Int? = storage == .contiguous && tensor.byteCount > 0 ? try dataset.offset().map { Int($0) } : nil
                try dataset.close()
                return offset
            }
            index.append(entry(key, tensor, storage: storage == .contiguous ? .contiguous : .deflate, offset: offset))
            positions[key] = position
        }
        try arenas.flush(root: root, index: &index, destination: destination)
        let computed = prefetch?.wait() ?? digests
        for position in index.indices {
            if let owner = index[position].tied_to, let first = positions[owner] {
                // A tie is its (earlier) owner's stored tensor: same checksums and placement.
                var tie = index[first]
                tie.key = index[position].key
                tie.tied_to = owner
                index[position] = tie
            } else if let (whole, blocks) = computed[position] {
                index[position].checksum = options.checksum.format(whole)
                index[position].block_size = blocks == nil ? nil : options.blockSize
                index[position].block_checksums = blocks?.map { options.checksum.format($0) }
            }
        }
        try arenas.finish(root: root, index: index, destination: destination)
        // The version is the least that holds what was written (§2), so it is
        // written once every tensor is.
        let binaryIndex = options.binaryIndexThreshold.map { index.count >= $0 } ?? false
        let version = binaryIndex ? FormatLayout.binaryIndexVersion
            : !arenas.isEmpty ? FormatLayout.packedVersion
            : index.contains { $0.block_size != nil } ? FormatLayout.blockChecksumVersion
            : structure != nil ? FormatLayout.structureVersion : FormatLayout.version
        try hdf5(destination) { () throws(HDF5Error) in
            try root.attributes.write(.string(version), name: FormatLayout.versionAttribute)
        }
        let metadataChecksum = MetadataDigest.checksum(metadata, options.checksum)
        let jsonBytes = try IndexEncoder.encode(IndexDocument(tensors: index, metadata_checksum: metadataChecksum, structure: structure))
        let json = Tensor(jsonBytes)
        try hdf5(destination) { () throws(HDF5Error) in
            let byteType = try HDF5Datatype.int(bits: 8, signed: false)
            let indexDataset = try HDF5Dataset.create(in: root, name: FormatLayout.indexDataset, type: byteType,
                                                      shape: [json.count], storage: .contiguous, data: json.storage.bytes)
            try indexDataset.close()
        }
        if binaryIndex {
            try BinaryIndex.write(index, metadataChecksum: metadataChecksum, structure: structure, json: jsonBytes,
                                  algorithm: options.checksum, in: root, file: destination)
        }
        do throws(HDF5Error) {
            try group.close()
            try root.close()
            try file.close()
        } catch {
            throw SheafError.hdf5(error, file: destination)
        }
    }

    static func writeMetadata(_ metadata: Metadata, on attributes: HDF5Attributes) throws(HDF5Error) {
        for (name, value) in metadata.sorted(by: { $0.key < $1.key }) {
            try attributes.write(value.hdf5Attribute, name: name)
        }
    }

    /// A chunk shape of about ``chunkBytes``: the trailing dimensions whole, the
    /// leading ones cut down.
    static func chunkShape(_ shape: [Int], itemSize: Int) -> [Int] {
        var chunk = shape.map { max($0, 1) }
        var bytes = chunk.reduce(itemSize) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        var dimension = 0
        while bytes > chunkBytes && dimension < chunk.count {
            let others = bytes / chunk[dimension]
            let fit = max(1, chunkBytes / max(others, 1))
            chunk[dimension] = min(chunk[dimension], fit)
            bytes = chunk.reduce(itemSize) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
            dimension += 1
        }
        return chunk
    }
}
