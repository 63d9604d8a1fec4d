extension SheafFile {
    /// Checks every entry of the index against the format's rules (§8) and
    /// the file's size, and builds the entries and the key positions.
    static func validate(_ document: IndexDocument, kind: SheafKind, algorithm: ChecksumAlgorithm,
                         fileSize: Int, path: String) throws(SheafError) -> ([Entry], [String: Int]) {
        guard document.tensors.count <= FormatLayout.maxTensors else {
            throw SheafError(.limitExceeded, file: path, "index lists \(document.tensors.count) tensors, over the limit of \(FormatLayout.maxTensors)")
        }
        var entries: [Entry] = []
        var positions: [String: Int] = [:]
        entries.reserveCapacity(document.tensors.count)
        positions.reserveCapacity(document.tensors.count)
        for raw in document.tensors {
            let key = raw.key
            do { try FormatLayout.checkKey(key) } catch { throw error.with(file: path, key: key) }
            guard positions[key] == nil else {
                throw SheafError(.invalidIndex, file: path, key: key, "duplicate key in the index")
            }
            guard let dtype = DType.named[raw.dtype] else {
                throw SheafError(.unknownDType, file: path, key: key, "unknown dtype '\(raw.dtype)'")
            }
            let expected: Int
            do { expected = try Shape.byteCount(raw.shape, dtype) } catch { throw error.with(file: path, key: key) }
            guard raw.nbytes == expected else {
                throw SheafError(.shapeMismatch, file: path, key: key,
                                 "\(dtype) shape \(raw.shape) needs \(expected) bytes, index says \(raw.nbytes)")
            }
            guard let storage = StorageKind(rawValue: raw.storage) else {
                throw SheafError(.invalidIndex, file: path, key: key, "unknown storage '\(raw.storage)'")
            }
            guard let checksum = algorithm.parse(raw.checksum) else {
                throw SheafError(.invalidIndex, file: path, key: key, "checksum '\(raw.checksum)' is not a \(algorithm.rawValue) hex value")
            }
            let packed = try packedPlacement(raw, storage: storage, dtype: dtype, path: path)
            if let offset = raw.offset {
                guard storage != .deflate, offset >= 0, offset <= fileSize, raw.nbytes <= fileSize - offset else {
                    throw SheafError(.invalidIndex, file: path, key: key,
                                     "data at offset \(offset) + \(raw.nbytes) bytes runs past the end of the \(fileSize)-byte file")
                }
            }
            if let owner = raw.tied_to {
                guard let first = positions[owner], entries[first].tiedTo == nil,
                      entries[first].dtype == dtype, entries[first].shape == raw.shape,
                      entries[first].checksum == checksum else {
                    throw SheafError(.invalidIndex, file: path, key: key,
                                     "tied to '\(owner)', which is not an earlier untied key of the same dtype, shape and checksum")
                }
            }
            var metadataChecksum: UInt64?
            if let text = raw.metadata_checksum {
                guard let value = algorithm.parse(text) else {
                    throw SheafError(.invalidIndex, file: path, key: key, "metadata_checksum '\(text)' is not a \(algorithm.rawValue) hex value")
                }
                metadataChecksum = value
            }
            var blockSize: Int?
            var blockChecksums: [UInt64] = []
            if raw.block_size != nil || raw.block_checksums != nil {
                guard let size = raw.block_size, let texts = raw.block_checksums, size > 0 else {
                    throw SheafError(.invalidIndex, file: path, key: key,
                                     "block_size and block_checksums come together, with block_size a positive integer (§9.1)")
                }
                let count = raw.nbytes / size + (raw.nbytes % size == 0 ? 0 : 1)
                guard texts.count == count else {
                    throw SheafError(.invalidIndex, file: path, key: key,
                                     "\(raw.nbytes) bytes in blocks of \(size) need \(count) block checksums, the index has \(texts.count)")
                }
                blockChecksums.reserveCapacity(count)
                for text in texts {
                    guard let value = algorithm.parse(text) else {
                        throw SheafError(.invalidIndex, file: path, key: key, "block checksum '\(text)' is not a \(algorithm.rawValue) hex value")
                    }
                    blockChecksums.append(value)
                }
                blockSize = size
            }
            if let owner = raw.tied_to, let first = positions[owner],
               entries[first].blockSize != blockSize || entries[first].blockChecksums != blockChecksums {
                throw SheafError(.invalidIndex, file: path, key: key, "tied to '\(owner)' but with other block checksums")
            }
            if let owner = raw.tied_to, let first = positions[owner],
               entries[first].storage != storage || entries[first].packed != packed || (packed != nil && entries[first].offset != raw.offset) {
                throw SheafError(.invalidIndex, file: path, key: key, "tied to '\(owner)' but stored elsewhere (a tie names the same stored tensor, §7)")
            }
            positions[key] = entries.count
            entries.append(Entry(key: key, dtype: dtype, shape: raw.shape, byteCount: raw.nbytes, storage: storage,
                                 offset: raw.offset, checksum: checksum, tiedTo: raw.tied_to, hasMetadata: raw.metadata,
                                 metadataChecksum: metadataChecksum, blockSize: blockSize, blockChecksums: blockChecksums,
                                 packed: packed))
        }
        switch kind {
        case .tensor:
            guard entries.count == 1, entries[0].key == "0" else {
                throw SheafError(.invalidIndex, file: path, "a file of kind tensor holds exactly one tensor under key \"0\", found \(entries.count) keys")
            }
        case .list:
            for (position, entry) in entries.enumerated() where entry.key != String(position) {
                throw SheafError(.invalidIndex, file: path, key: entry.key, "a list's keys are \"0\", \"1\", … in order; expected \"\(position)\"")
            }
        case .dict: break
        }
        return (entries, positions)
    }

    /// A packed entry's placement (§18): storage `packed` comes with `arena`,
    /// `arena_start` and an aligned `offset`, for a non-empty tensor without
    /// metadata; other storage comes with neither member.
    private static func packedPlacement(_ raw: IndexEntry, storage: StorageKind, dtype: DType, path: String) throws(SheafError) -> PackedPlacement? {
        guard storage == .packed else {
            guard raw.arena == nil, raw.arena_start == nil else {
                throw SheafError(.invalidIndex, file: path, key: raw.key, "arena and arena_start belong to packed tensors only, storage is '\(raw.storage)' (§18)")
            }
            return nil
        }
        let alignment = FormatLayout.alignment
        guard let arena = raw.arena, let start = raw.arena_start, arena >= 0, arena < FormatLayout.maxTensors,
              start >= 0, start <= Int.max / max(dtype.itemSize, 1),
              (start * dtype.itemSize) % alignment == 0 else {
            throw SheafError(.invalidIndex, file: path, key: raw.key,
                             "a packed tensor needs arena (a number) and arena_start (an element index at a multiple of \(alignment) bytes) (§18)")
        }
        guard let offset = raw.offset, offset % alignment == 0, raw.nbytes > 0 else {
            throw SheafError(.invalidIndex, file: path, key: raw.key,
                             "a packed tensor is non-empty and has an offset that is a multiple of \(alignment) (§18)")
        }
        guard !raw.metadata, raw.metadata_checksum == nil else {
            throw SheafError(.invalidIndex, file: path, key: raw.key, "a packed tensor carries no metadata (§18)")
        }
        return PackedPlacement(arena: arena, start: start)
    }
}
