import Dispatch
import SheafHDF5
import Glibc

extension SheafFile {
    /// Reads the tensor stored under `key`.
    ///
    /// A contiguous tensor without metadata is read at the offset the index
    /// records and checked against the index's checksum, without opening its
    /// HDF5 dataset (the index is trusted, Spec §8); ``verify()`` is what checks
    /// the index against the datasets. Other tensors are read through their dataset.
    ///
    /// - Parameter verifyChecksum: check the data against the index's checksum
    ///   (the default); pass `false` only to skip the cost on trusted files.
    /// - Throws: ``SheafError``: `keyNotFound`, `dtypeMismatch`, `shapeMismatch`,
    ///   `checksumMismatch`, `invalidIndex`, `io`, `hdf5`.
    /// - Complexity: O(bytes of this tensor), independent of the file's size.
    public func tensor(_ key: String, verifyChecksum: Bool = true) throws(SheafError) -> Tensor {
        let entry = try entry(key)
        if entry.offset != nil && !entry.hasMetadata && entry.metadataChecksum == nil {
            return try Self.readIndexed(entry, descriptor: descriptor, path: path, algorithm: checksumAlgorithm, verify: verifyChecksum)
        }
        return try read(entry, verifyChecksum: verifyChecksum)
    }

    /// The user metadata of the tensor under `key`.
    public func metadata(for key: String) throws(SheafError) -> Metadata {
        let entry = try entry(key)
        guard entry.hasMetadata else { return [:] }
        return try guarded(key) { () throws -> Metadata in
            let name = try FormatLayout.linkName(for: key)
            let dataset = try tensors.openDataset(name)
            let names = try dataset.attributes.names()
            let metadata = try Self.readMetadata(dataset.attributes, names: names, path: path, key: key)
            try checkMetadata(metadata, entry)
            return metadata
        }
    }

    /// Every tensor, in key order, as a state dict with the file's metadata.
    /// Tied keys share one storage.
    /// - Complexity: O(total bytes).
    ///
    /// - Parameter trustIndex: read contiguous tensors straight from the offsets
    ///   the index records, without opening each HDF5 dataset to check that the
    ///   index agrees with it; every tensor's checksum is still verified, and
    ///   every byte read lies inside the file (the default, Spec §8: the index
    ///   may be trusted). Pass `false` to also cross-check each dataset's type,
    ///   shape, layout and offset against the index while loading (about 20 µs
    ///   per tensor); ``verify()`` does that and every other structural check.
    public func stateDict(verifyChecksums: Bool = true, trustIndex: Bool = true) throws(SheafError) -> StateDict {
        // Index-trusted tensors are read and checksummed on every core at once.
        // Contiguous tensors come from one mapping of the file, checksummed on every
        // core at once; unless the index is trusted, each dataset is first checked
        // against the index (dtype, shape, layout, offset, metadata).
        let entries = Array(self.entries)
        let records = table.records
        let wanted = records.indices.filter { records[$0].owner < 0 && records[$0].offset != nil }
        let attached = try checkDatasets(wanted.filter { !trustIndex || records[$0].hasMetadata })
        // By position: tied keys take their owner's (earlier) tensor.
        var tensors = try Self.readIndexed(wanted.map { entries[$0] }, descriptor: descriptor, path: path, fileSize: fileSize,
                                           algorithm: checksumAlgorithm, verify: verifyChecksums, positions: wanted,
                                           count: entries.count)
        for (position, metadata) in attached { tensors[position]?.metadata = metadata }
        for (position, entry) in entries.enumerated() where tensors[position] == nil {
            let owner = Int(records[position].owner)
            if owner >= 0, let tensor = tensors[owner] {
                tensors[position] = tensor
            } else {
                tensors[position] = try read(entry, verifyChecksum: verifyChecksums)
            }
        }
        // Keys are unique (checked when the index was read).
        return StateDict(uniqueKeys: entries.map(\.key), tensors: tensors.map { $0! }, metadata: metadata)
    }

    /// Tensors at their index offsets with no HDF5 call: backed by one private
    /// mapping of the file (no copy), checksums verified in parallel over the
    /// cores; placed at `positions` of an array of `count`. Falls back to
    /// reading when the file cannot be mapped.
    static func readIndexed(_ wanted: [Entry], descriptor: Int32, path: String, fileSize: Int, algorithm: ChecksumAlgorithm,
                            verify: Bool, positions: [Int], count: Int) throws(SheafError) -> [Tensor?] {
        var tensors = [Tensor?](repeating: nil, count: count)
        guard !wanted.isEmpty else { return tensors }
        let mapping = FileMapping(descriptor: descriptor, size: fileSize)
        var list: [Tensor] = []
        list.reserveCapacity(wanted.count)
        for entry in wanted {
            let offset = entry.offset ?? 0
            guard offset >= 0, entry.byteCount <= fileSize - offset else {
                throw SheafError(.invalidIndex, file: path, key: entry.key, "data at \(offset) + \(entry.byteCount) bytes runs past the end of the file")
            }
            if let mapping {
                var tensor = Tensor(dtype: entry.dtype, shape: entry.shape,
                                    storage: TensorStorage(mapping: mapping, offset: offset, byteCount: entry.byteCount))
                if entry.dtype == .bool, tensor.withUnsafeBytes({ $0.contains { $0 > 1 } }) {
                    tensor.withUnsafeMutableBytes { bytes in for i in 0..<bytes.count where bytes[i] > 1 { bytes[i] = 1 } }
                }
                list.append(tensor)
            } else {
                list.append(try readIndexed(entry, descriptor: descriptor, path: path, algorithm: algorithm, verify: false))
            }
        }
        if verify {
            let found = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: list.count)
            defer { found.deallocate() }
            let box = UncheckedBox((found, list))
            let workers = min(list.count, ProcessInfoWorkers.count)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var index = worker
                while index < box.value.1.count {
                    box.value.0[index] = box.value.1[index].withUnsafeBytes { algorithm.digest($0) }
                    index += workers
                }
            }
            for (index, entry) in wanted.enumerated() { try check(found[index], entry, algorithm, path) }
        }
        for (index, position) in positions.enumerated() { tensors[position] = list[index] }
        return tensors
    }

    /// Reads one contiguous tensor at its index offset.
    static func readIndexed(_ entry: Entry, descriptor: Int32, path: String, algorithm: ChecksumAlgorithm,
                            verify: Bool) throws(SheafError) -> Tensor {
        let storage = TensorStorage(uninitialized: entry.byteCount)
        try readExactly(descriptor, at: entry.offset ?? 0, into: storage.mutableBytes, path: path, key: entry.key)
        var tensor = Tensor(dtype: entry.dtype, shape: entry.shape, storage: storage)
        if entry.dtype == .bool {
            tensor.withUnsafeMutableBytes { bytes in for i in 0..<bytes.count where bytes[i] > 1 { bytes[i] = 1 } }
        }
        if verify { try check(tensor.withUnsafeBytes { algorithm.digest($0) }, entry, algorithm, path) }
        return tensor
    }

    /// Checks the dataset of an entry against the index without reading its
    /// data; returns its (checksum-verified) metadata.
    /// A packed entry (§18) is checked against its arena instead.
    package func checkDataset(_ entry: Entry) throws(SheafError) -> Metadata {
        if let placement = entry.packed {
            try checkPacked(entry, in: try arena(placement.arena, key: entry.key))
            return [:]
        }
        return try withDataset(entry) { dataset throws(SheafError) in try checkDataset(entry, dataset) }
    }

    /// Opens the dataset of `entry` (refusing data outside the file) for `body`.
    func withDataset<R>(_ entry: Entry, _ body: (borrowing HDF5Dataset) throws(SheafError) -> R) throws(SheafError) -> R {
        let name = try guarded(entry.key) { () throws -> String in
            let name = try FormatLayout.linkName(for: entry.key)
            guard try tensors.contains(name) else {
                throw SheafError(.invalidIndex, "the index lists this key but /\(FormatLayout.tensorsGroup)/\(name) does not exist")
            }
            return name
        }
        let dataset = try hdf5(path, key: entry.key) { () throws(HDF5Error) in try tensors.openDataset(name) }
        return try body(dataset)
    }

    /// ``checkDataset(_:)`` on an open dataset.
    func checkDataset(_ entry: Entry, _ dataset: borrowing HDF5Dataset) throws(SheafError) -> Metadata {
        try hdf5(path, key: entry.key) { () throws(HDF5Error) in
            // Data read through libhdf5 (no offset in the index) must stay within
            // the read limits; data at an index offset is read with pread, within
            // the file, once the offset is checked below.
            if entry.offset == nil { _ = try dataset.checkReadable() }
        }
        let info = try hdf5(path, key: entry.key) { () throws(HDF5Error) in try dataset.datatype().describe() }
        guard entry.dtype.matches(info) else {
            throw SheafError(.dtypeMismatch, file: path, key: entry.key,
                             "index says \(entry.dtype), but the dataset's HDF5 type (\(info.size)-byte \(info.typeClass)) does not hold \(entry.dtype)")
        }
        let shape = try hdf5(path, key: entry.key) { () throws(HDF5Error) in try dataset.shape() }
        guard let shape, shape == entry.shape else {
            throw SheafError(.shapeMismatch, file: path, key: entry.key,
                             "index says shape \(entry.shape), dataset has shape \(shape.map { "\($0)" } ?? "null")")
        }
        if let offset = entry.offset {
            let (layout, actual) = try hdf5(path, key: entry.key) { () throws(HDF5Error) in (try dataset.layout().layout, try dataset.offset()) }
            guard layout == .contiguous, entry.dtype.isCanonical(info), actual == UInt64(offset) else {
                throw SheafError(.invalidIndex, file: path, key: entry.key,
                                 "index says contiguous little-endian data at offset \(offset), dataset is \(layout) at offset \(actual.map(String.init) ?? "none")")
            }
        }
        guard entry.hasMetadata || entry.metadataChecksum != nil else { return [:] }
        let names = try hdf5(path, key: entry.key) { () throws(HDF5Error) in try dataset.attributes.names() }
        let metadata = try Self.readMetadata(dataset.attributes, names: names, path: path, key: entry.key)
        try checkMetadata(metadata, entry)
        return metadata
    }

    func read(_ entry: Entry, verifyChecksum: Bool) throws(SheafError) -> Tensor {
        try withDataset(entry) { dataset throws(SheafError) in try read(entry, dataset, verifyChecksum: verifyChecksum) }
    }

    /// Reads `entry` from its open dataset, checked against the index first.
    func read(_ entry: Entry, _ dataset: borrowing HDF5Dataset, verifyChecksum: Bool) throws(SheafError) -> Tensor {
        let metadata = try checkDataset(entry, dataset)
        var tensor: Tensor
        if entry.offset != nil {
            tensor = try Self.readIndexed(entry, descriptor: descriptor, path: path, algorithm: checksumAlgorithm, verify: verifyChecksum)
        } else {
            let storage = TensorStorage(byteCount: entry.byteCount)
            if entry.byteCount > 0 {
                try hdf5(path, key: entry.key) { () throws(HDF5Error) in
                    try dataset.read(into: storage.mutableBytes, as: try entry.dtype.hdf5Type())
                }
            }
            tensor = Tensor(dtype: entry.dtype, shape: entry.shape, storage: storage)
            if entry.dtype == .bool {
                // HDF5 converts enum values by name; anything but 0/1 cannot come back.
                tensor.withUnsafeMutableBytes { bytes in for i in 0..<bytes.count where bytes[i] > 1 { bytes[i] = 1 } }
            }
            if verifyChecksum {
                try Self.check(tensor.withUnsafeBytes { checksumAlgorithm.digest($0) }, entry, checksumAlgorithm, path)
            }
        }
        tensor.metadata = metadata
        return tensor
    }

    func checkMetadata(_ metadata: Metadata, _ entry: Entry) throws(SheafError) {
        guard let expected = entry.metadataChecksum else { return }
        let found = MetadataDigest.encode(metadata).withUnsafeBytes { checksumAlgorithm.digest($0) }
        guard found == expected else {
            throw SheafError(.checksumMismatch, file: path, key: entry.key,
                             "metadata checksum mismatch: the attributes do not match the index's \(checksumAlgorithm.rawValue) checksum \(checksumAlgorithm.format(expected))")
        }
    }

    /// Checks `tensor`'s bytes against the entry's block checksums (§9.1), if any.
    func checkBlocks(_ tensor: Tensor, _ entry: Entry) throws(SheafError) {
        guard let size = entry.blockSize else { return }
        let found = tensor.withUnsafeBytes { checksumAlgorithm.digest($0, blockSize: size).blocks }
        for (index, value) in found.enumerated() where value != entry.blockChecksums[index] {
            throw Self.checksumMismatch(checksumAlgorithm, expected: entry.blockChecksums[index], path: path, key: entry.key,
                                        block: (index, index * size..<min(entry.byteCount, (index + 1) * size)))
        }
    }

    /// Throws the checksum-mismatch error when `found` is not the index's checksum.
    static func check(_ found: UInt64, _ entry: Entry, _ algorithm: ChecksumAlgorithm, _ path: String) throws(SheafError) {
        guard found != entry.checksum else { return }
        throw checksumMismatch(algorithm, expected: entry.checksum, path: path, key: entry.key)
    }

    /// The error for bytes that do not match the index's checksum: the whole
    /// tensor's, or one block's (§9.1, its number and byte range).
    static func checksumMismatch(_ algorithm: ChecksumAlgorithm, expected: UInt64, path: String, key: String,
                                 block: (index: Int, bytes: Range<Int>)? = nil) -> SheafError {
        let what = block.map { " of block \($0.index) (bytes \($0.bytes.lowerBound)..<\($0.bytes.upperBound))" } ?? ""
        return SheafError(.checksumMismatch, file: path, key: key,
                          "\(algorithm.rawValue) checksum mismatch: the data\(what) does not match the index's checksum \(algorithm.format(expected))")
    }

    /// Reads exactly `buffer.count` bytes at `offset` of the open file.
    /// - Throws: ``SheafError`` `io` when the read fails, `invalidFile` when the file ends first.
    static func readExactly(_ descriptor: Int32, at offset: Int, into buffer: UnsafeMutableRawBufferPointer,
                            path: String, key: String) throws(SheafError) {
        let done: Int
        do { done = try FileDescriptor(rawValue: descriptor).read(fromAbsoluteOffset: offset, into: buffer) } catch {
            throw SheafError(.io, file: path, key: key, "read of \(buffer.count) bytes at offset \(offset) failed: \(error)")
        }
        guard done == buffer.count else {
            throw SheafError(.invalidFile, file: path, key: key, "file ends inside the data at offset \(offset) (\(buffer.count) bytes)")
        }
    }

    /// Runs `body`, attaching this file and `key` to whatever it throws.
    func guarded<R>(_ key: String?, _ body: () throws -> R) throws(SheafError) -> R {
        do { return try body() }
        catch let error as SheafError { throw error.with(file: path, key: key) }
        catch let error as HDF5Error { throw SheafError.hdf5(error, file: path, key: key) }
        catch { throw SheafError(.io, file: path, key: key, "\(error)") }
    }
}

/// Lets the parallel reader's workers write disjoint slots of one buffer.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

enum ProcessInfoWorkers {
    static let count: Int = {
        if let text = getenv("SHEAF_READ_THREADS"), let value = Int(String(cString: text)), value > 0 { return value }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()
}
