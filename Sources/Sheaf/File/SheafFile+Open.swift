import Glibc
import SheafHDF5

extension SheafFile {
    /// Opens `path` and reads its index.
    /// - Throws: ``SheafError`` with code `fileNotFound`, `notHDF5`, `notSheaf`,
    ///   `unsupportedVersion`, `unknownKind`, `unknownDType`, `invalidIndex`, … .
    /// - Complexity: O(number of tensors); no tensor data is read.
    public init(path: String) throws(SheafError) {
        // A file replaced (renamed over) while it is being opened is opened again:
        // the reader then sees the new complete file.
        var attempts = 0
        while true {
            attempts += 1
            if let opened = try Self.open(path: path) {
                self = opened
                return
            }
            guard attempts < 5 else {
                throw SheafError(.io, file: path, "the file was replaced while it was being opened, \(attempts) times in a row")
            }
        }
    }

    /// Opens the HDF5 file; nil when that failed because `path` was renamed over
    /// since `opened` was taken (the caller opens the new file).
    private static func openHDF5(_ hdf5Path: String, path: String, opened: stat) throws(SheafError) -> HDF5File? {
        do {
            return try HDF5File.open(path: hdf5Path)
        } catch {
            var now = stat()
            if stat(path, &now) == 0, now.st_ino != opened.st_ino || now.st_dev != opened.st_dev { return nil }
            throw SheafError.hdf5(error, file: path)
        }
    }

    init(path: String, kind: SheafKind, version: String, checksumAlgorithm: ChecksumAlgorithm,
                 metadata: Metadata, structure: CheckpointNode?, indexChecksum: UInt64, table: IndexTable,
                 file: consuming HDF5File, tensors: consuming HDF5Group, descriptor: Int32, fileSize: Int) {
        self.path = path
        self.structure = structure
        self.indexChecksum = indexChecksum
        self.kind = kind
        self.version = version
        self.checksumAlgorithm = checksumAlgorithm
        self.metadata = metadata
        self.table = table
        self.file = file
        self.tensors = tensors
        self.descriptor = descriptor
        self.fileSize = fileSize
    }

    /// The opened file, or nil when `path` was replaced while it was opened.
    private static func open(path: String) throws(SheafError) -> SheafFile? {
        // Open the file once and let HDF5 open that same inode through /proc, so a
        // rename over `path` in between (a checkpoint being replaced) cannot pair
        // one file's index with another file's bytes.
        let (handle, fileSize) = try FileDescriptor.openRegularFile(path)
        let descriptor = handle.rawValue
        var opened = false
        defer { if !opened { handle.close() } }
        let sameFile = Platform.path(of: handle)
        let openedInfo = try handle.status(path)
        let hdf5Path = sameFile
        guard handle.hasHDF5Signature(size: fileSize) else {
            throw SheafError(.notHDF5, file: path, "not an HDF5 file (no HDF5 signature found)")
        }
        guard let file = try openHDF5(hdf5Path, path: path, opened: openedInfo) else { return nil }
        let root = try hdf5(path) { () throws(HDF5Error) in try file.root() }
        let header = try Self.readHeader(root, path: path)
        guard let kind = SheafKind(rawValue: header.kind) else {
            if header.kind == DistributedCheckpoint.kindName {
                throw SheafError(.unsupported, file: path,
                                 "the master file of a distributed checkpoint (Spec/FORMAT.md §17), not one file's tensors: open it with DistributedCheckpoint, or `sheaf convert` it to one file")
            }
            throw SheafError(.unknownKind, file: path, "unknown kind '\(header.kind)', expected tensor, list or dict")
        }
        let (version, algorithm, metadata) = (header.version, header.algorithm, header.metadata)
        // The binary index (§8.2) when the file has one, else the JSON (§8).
        let index: CheckedIndex
        if try BinaryIndex.isPresent(in: root, path: path) {
            // The JSON stays the file's index for other readers: it must be there.
            guard try hdf5(path, { () throws(HDF5Error) in try root.contains(FormatLayout.indexDataset) }) else {
                throw SheafError(.invalidIndex, file: path, "missing index dataset '/\(FormatLayout.indexDataset)'")
            }
            index = try BinaryIndex.read(root, kind: kind, algorithm: algorithm, fileSize: fileSize, path: path)
        } else {
            index = try Self.checkJSONIndex(try Self.readIndexBytes(root, path: path), kind: kind, algorithm: algorithm,
                                            fileSize: fileSize, path: path)
        }
        if let expected = index.metadataChecksum {
            let found = MetadataDigest.encode(metadata).withUnsafeBytes { algorithm.digest($0) }
            guard found == expected else {
                throw SheafError(.checksumMismatch, file: path,
                                 "file metadata checksum mismatch: the metadata attributes do not match the index's \(algorithm.rawValue) checksum \(algorithm.format(expected))")
            }
        }
        let table = index.table
        if let structure = index.structure {
            try SheafWriter.validate(structure, keys: Set((0..<table.count).map(table.key(at:))), metadata: metadata, file: path)
        }
        guard try hdf5(path, { () throws(HDF5Error) in try root.contains(FormatLayout.tensorsGroup) }) else {
            throw SheafError(.invalidFile, file: path, "missing group '/\(FormatLayout.tensorsGroup)'")
        }
        let tensors = try hdf5(path) { () throws(HDF5Error) in try root.openGroup(FormatLayout.tensorsGroup) }
        opened = true
        return SheafFile(path: path, kind: kind, version: version, checksumAlgorithm: algorithm, metadata: metadata,
                         structure: index.structure, indexChecksum: index.indexChecksum, table: table, file: file, tensors: tensors, descriptor: descriptor,
                         fileSize: fileSize)
    }

    /// An index read and checked: the entries, the structure, the file
    /// metadata's recorded checksum, and the checksum of the JSON's bytes.
    struct CheckedIndex {
        var table: IndexTable
        var structure: CheckpointNode?
        var metadataChecksum: UInt64?
        var indexChecksum: UInt64
    }

    /// Parses the JSON index (§8) and checks every entry as it is read.
    static func checkJSONIndex(_ json: [UInt8], kind: SheafKind, algorithm: ChecksumAlgorithm,
                               fileSize: Int, path: String) throws(SheafError) -> CheckedIndex {
        // The fast reader; Foundation's decoder describes what is wrong when it fails.
        var validator = IndexValidator(kind: kind, algorithm: algorithm, fileSize: fileSize, path: path, capacity: json.count / 128)
        let document: RawIndex
        switch try IndexParser.table(json, &validator) {
        case .index(let parsed): document = parsed
        case .malformed:
            // Foundation's decoder says what is wrong, at a cost in memory of many
            // times the input: only for indexes small enough to afford it.
            guard json.count <= 1 << 20 else {
                throw SheafError(.invalidIndex, file: path, "the index is not JSON of the form Spec/FORMAT.md section 8 gives")
            }
            _ = try JSON.decode(IndexDocument.self, from: json, file: path)
            // Foundation's decoder is more lenient (a repeated member, a number
            // with a fraction): what the strict reader refused stays refused.
            throw SheafError(.invalidIndex, file: path,
                             "the index is not JSON of the form Spec/FORMAT.md section 8 gives (a member repeated, or not an integer where one is required)")
        }
        var metadataChecksum: UInt64?
        if let recorded = document.metadataChecksum {
            guard let value = algorithm.parse(recorded) else {
                throw SheafError(.invalidIndex, file: path, "metadata_checksum '\(recorded)' is not a \(algorithm.rawValue) hex value")
            }
            metadataChecksum = value
        }
        return CheckedIndex(table: try validator.finish(dimensions: document.dimensions), structure: document.structure,
                            metadataChecksum: metadataChecksum, indexChecksum: json.withUnsafeBytes { algorithm.digest($0) })
    }

    /// The root attributes of §2 and the file's metadata, checked: format
    /// `sheaf`, version `MAJOR.MINOR` of this major version, a known checksum
    /// algorithm. The kind is returned as written (callers know which they read).
    static func readHeader(_ root: borrowing HDF5Group, path: String) throws(SheafError)
        -> (version: String, kind: String, algorithm: ChecksumAlgorithm, metadata: Metadata) {
        let rootAttributes = try hdf5(path) { () throws(HDF5Error) in try root.attributes.names() }
        func stringAttribute(_ name: String) throws(SheafError) -> String? {
            guard rootAttributes.contains(name) else { return nil }
            guard case .string(let value)? = try hdf5(path, { () throws(HDF5Error) in
                try root.attributes.read(name)
            }) else {
                throw SheafError(.invalidFile, file: path, "root attribute \(name) must be a string")
            }
            return value
        }
        guard let format = try stringAttribute(FormatLayout.formatAttribute) else {
            throw SheafError(.notSheaf, file: path, "an HDF5 file but not a Sheaf file (no '\(FormatLayout.formatAttribute)' root attribute)")
        }
        guard format == FormatLayout.formatName else {
            throw SheafError(.notSheaf, file: path, "an HDF5 file but not a Sheaf file ('\(FormatLayout.formatAttribute)' is '\(format)', expected '\(FormatLayout.formatName)')")
        }
        guard let version = try stringAttribute(FormatLayout.versionAttribute) else {
            throw SheafError(.invalidFile, file: path, "missing root attribute '\(FormatLayout.versionAttribute)'")
        }
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), Int(parts[1]) != nil, major >= 0 else {
            throw SheafError(.invalidFile, file: path, "'\(FormatLayout.versionAttribute)' is '\(version)', expected MAJOR.MINOR")
        }
        guard major == FormatLayout.majorVersion else {
            throw SheafError(.unsupportedVersion, file: path,
                             "file is Sheaf format \(version); this reader supports \(FormatLayout.majorVersion).x")
        }
        guard let kindName = try stringAttribute(FormatLayout.kindAttribute) else {
            throw SheafError(.invalidFile, file: path, "missing root attribute '\(FormatLayout.kindAttribute)'")
        }
        guard let algorithmName = try stringAttribute(FormatLayout.checksumAttribute) else {
            throw SheafError(.invalidFile, file: path, "missing root attribute '\(FormatLayout.checksumAttribute)'")
        }
        guard let algorithm = ChecksumAlgorithm(rawValue: algorithmName) else {
            throw SheafError(.unsupported, file: path, "unknown checksum algorithm '\(algorithmName)', expected xxh3-64 or crc32")
        }
        let metadata = try Self.readMetadata(root.attributes, names: rootAttributes, path: path, key: nil)
        return (version, kindName, algorithm, metadata)
    }

    /// The bytes of the index dataset (§8): a 1-d uint8 dataset of at most
    /// ``FormatLayout/maxIndexBytes``.
    static func readIndexBytes(_ root: borrowing HDF5Group, path: String) throws(SheafError) -> [UInt8] {
        guard try hdf5(path, { () throws(HDF5Error) in try root.contains(FormatLayout.indexDataset) }) else {
            throw SheafError(.invalidIndex, file: path, "missing index dataset '/\(FormatLayout.indexDataset)'")
        }
        let json = try hdf5(path) { () throws(HDF5Error) -> [UInt8]? in
            let dataset = try root.openDataset(FormatLayout.indexDataset)
            guard let shape = try dataset.shape(), shape.count == 1,
                  try dataset.datatype().describe() == (try HDF5Datatype.int(bits: 8, signed: false).describe())
            else { return nil }
            guard shape[0] <= FormatLayout.maxIndexBytes else { return [] }
            _ = try dataset.checkReadable()
            let type = try HDF5Datatype.int(bits: 8, signed: false)
            // Read into uninitialised storage: the read fills every byte or throws.
            var failure: HDF5Error?
            let bytes = [UInt8](unsafeUninitializedCapacity: shape[0]) { buffer, count in
                guard !buffer.isEmpty else { return }
                do throws(HDF5Error) {
                    try dataset.read(into: UnsafeMutableRawBufferPointer(buffer), as: type)
                    count = buffer.count
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
            return bytes
        }
        guard let json else {
            throw SheafError(.invalidIndex, file: path, "index dataset must be a 1-d uint8 array")
        }
        guard !json.isEmpty else {
            throw SheafError(.limitExceeded, file: path, "index is empty or larger than \(FormatLayout.maxIndexBytes) bytes")
        }
        return json
    }
}
