import SheafHDF5

/// Writes Sheaf files (Spec/FORMAT.md). Every save goes through ``write(kind:entries:metadata:to:options:)``.
enum SheafWriter {
    /// Target size of one deflate chunk.
    static let chunkBytes = 1 << 20

    /// Writes `entries` in order as a file of `kind`, atomically.
    static func write(kind: SheafKind, entries: [(String, Tensor)], metadata: Metadata,
                      to path: String, options: SaveOptions) throws(SheafError) {
        // Check everything that can be refused before touching the disk.
        var names: [String] = []
        var seen: Set<String> = []
        for (key, _) in entries {
            guard seen.insert(key).inserted else {
                throw SheafError(.invalidKey, file: path, key: key, "duplicate key")
            }
            do { names.append(try FormatLayout.linkName(for: key)) } catch { throw error.with(file: path, key: key) }
        }
        try validate(metadata, file: path, key: nil)
        for (key, tensor) in entries { try validate(tensor.metadata, file: path, key: key) }
        if case .deflate(let level) = options.compression, !(1...9).contains(level) {
            throw SheafError(.invalidArgument, file: path, "deflate level must be 1-9, found \(level)")
        }
        do {
            try AtomicFile.write(to: path) { temporary in
                try writeFile(kind: kind, entries: entries, names: names, metadata: metadata,
                              temporary: temporary, destination: path, options: options)
            }
        } catch let error as SheafError {
            throw error
        } catch {
            throw SheafError(.io, file: path, "\(error)")
        }
    }

    static func validate(_ metadata: Metadata, file: String, key: String?) throws(SheafError) {
        for name in metadata.keys {
            if name.isEmpty || name.utf8.contains(0) || name.hasPrefix(FormatLayout.reservedPrefix) || name == "." || name.contains("/") {
                throw SheafError(.invalidMetadata, file: file, key: key,
                                 "metadata name '\(name)' is not allowed: names must be non-empty, without '/' or NUL, and not start with '\(FormatLayout.reservedPrefix)'")
            }
        }
    }

    private static func writeFile(kind: SheafKind, entries: [(String, Tensor)], names: [String], metadata: Metadata,
                                  temporary: String, destination: String, options: SaveOptions) throws(SheafError) {
        try hdf5(destination) { () throws(HDF5Error) in
            let file = try HDF5File.create(path: temporary, alignment: FormatLayout.alignment)
            let root = try file.root()
            try HDF5Attributes.write(.string(FormatLayout.formatName), name: FormatLayout.formatAttribute, on: root.id, path: root.path)
            try HDF5Attributes.write(.string(FormatLayout.version), name: FormatLayout.versionAttribute, on: root.id, path: root.path)
            try HDF5Attributes.write(.string(kind.rawValue), name: FormatLayout.kindAttribute, on: root.id, path: root.path)
            try HDF5Attributes.write(.string(options.checksum.rawValue), name: FormatLayout.checksumAttribute, on: root.id, path: root.path)
            try writeMetadata(metadata, on: root.id, path: root.path)
            let group = try root.createGroup(FormatLayout.tensorsGroup)

            var index: [IndexEntry] = []
            index.reserveCapacity(entries.count)
            var written: [ObjectIdentifier: Int] = [:]  // storage -> index position
            for (position, (key, tensor)) in entries.enumerated() {
                let name = names[position]
                let identity = ObjectIdentifier(tensor.storage)
                if let first = written[identity], index[first].dtype == tensor.dtype.rawValue,
                   index[first].shape == tensor.shape {
                    let owner = entries[first].1
                    guard owner.metadata == tensor.metadata else {
                        throw HDF5Error(operation: "tie", object: key,
                                        message: "tied to '\(entries[first].0)' but with different metadata; a tied tensor has one set of metadata")
                    }
                    try group.createHardLink(to: names[first], named: name)
                    var entry = index[first]
                    entry.key = key
                    entry.tied_to = entries[first].0
                    index.append(entry)
                    continue
                }
                written[identity] = position
                let type = try tensor.dtype.hdf5Type()
                var storage = HDF5StorageRequest.contiguous
                if case .deflate(let level) = options.compression, tensor.count > 0, !tensor.shape.isEmpty {
                    storage = .deflate(level: level, chunk: chunkShape(tensor.shape, itemSize: tensor.dtype.itemSize))
                }
                let dataset = try HDF5Dataset.create(in: group, name: name, type: type, shape: tensor.shape,
                                                     storage: storage, data: tensor.storage.bytes)
                try HDF5Attributes.write(.string(tensor.dtype.rawValue), name: FormatLayout.dtypeAttribute,
                                         on: dataset.id, path: dataset.path)
                try writeMetadata(tensor.metadata, on: dataset.id, path: dataset.path)
                let offset: Int? = storage == .contiguous && tensor.byteCount > 0 ? try dataset.offset().map { Int($0) } : nil
                let checksum = tensor.withUnsafeBytes { options.checksum.digest($0) }
                index.append(IndexEntry(
                    key: key, dtype: tensor.dtype.rawValue, shape: tensor.shape, nbytes: tensor.byteCount,
                    offset: offset, storage: storage == .contiguous ? StorageKind.contiguous.rawValue : StorageKind.deflate.rawValue,
                    checksum: options.checksum.format(checksum), tied_to: nil, metadata: !tensor.metadata.isEmpty))
                try dataset.close()
            }
            let json: [UInt8]
            do { json = try JSON.encode(IndexDocument(tensors: index)) } catch {
                throw HDF5Error(operation: "index", object: destination, message: "\(error)")
            }
            let byteType = try HDF5Datatype.int(bits: 8, signed: false)
            let jsonBytes = Tensor(json)
            let indexDataset = try HDF5Dataset.create(in: root, name: FormatLayout.indexDataset, type: byteType,
                                                      shape: [json.count], storage: .contiguous,
                                                      data: jsonBytes.storage.bytes)
            try indexDataset.close()
            try group.close()
            try root.close()
            try file.close()
        }
    }

    static func writeMetadata(_ metadata: Metadata, on object: HDF5ID, path: String) throws(HDF5Error) {
        for name in metadata.keys.sorted() {
            let value: HDF5AttributeValue = switch metadata[name]! {
            case .string(let v): .string(v)
            case .int(let v): .int(v)
            case .float(let v): .float(v)
            case .bool(let v): .bool(v)
            case .strings(let v): .strings(v)
            case .ints(let v): .ints(v)
            case .floats(let v): .floats(v)
            case .bools(let v): .bools(v)
            }
            try HDF5Attributes.write(value, name: name, on: object, path: path)
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
