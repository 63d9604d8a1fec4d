import SheafHDF5
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Sheaf file opened lazily: its kind, metadata, keys, dtypes and shapes are
/// read from the index at open; tensor data is read only when asked for.
///
/// `SheafFile` owns the open file and closes it when it goes out of scope.
/// Every read checks the dataset against the index (dtype, shape, offset) and,
/// unless asked not to, the checksum, so a damaged file gives an error rather
/// than wrong values.
public struct SheafFile: ~Copyable {
    /// One tensor as the index describes it.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var dtype: DType
        public var shape: [Int]
        public var byteCount: Int
        public var storage: StorageKind
        /// File offset of contiguous little-endian raw data, when the writer recorded it.
        public var offset: Int?
        public var checksum: UInt64
        /// The earlier key this one is a second name for, if tied.
        public var tiedTo: String?
        /// Whether the tensor carries user metadata.
        public var hasMetadata: Bool
        /// The checksum of the tensor's metadata, when the writer recorded one.
        public var metadataChecksum: UInt64?
    }

    public let path: String
    public let kind: SheafKind
    /// The version the file declares, `"MAJOR.MINOR"`.
    public let version: String
    public let checksumAlgorithm: ChecksumAlgorithm
    /// The file's metadata (root attributes not reserved by the format).
    public let metadata: Metadata
    /// The tensors, in key order.
    public let entries: [Entry]
    let positions: [String: Int]
    /// `/tensors`, opened once: resolving it from the root again for every
    /// tensor would scan the root's object header (every file attribute) each time.
    /// Declared before `file` so it is released first (closing the file closes
    /// every object in it).
    let tensors: HDF5Group
    let file: HDF5File
    let descriptor: Int32
    let fileSize: Int

    /// The keys in order.
    public var keys: [String] { entries.map(\.key) }

    /// Opens `path` and reads its index.
    /// - Throws: ``SheafError`` with code `fileNotFound`, `notHDF5`, `notSheaf`,
    ///   `unsupportedVersion`, `unknownKind`, `unknownDType`, `invalidIndex`, … .
    /// - Complexity: O(number of tensors); no tensor data is read.
    public init(path: String) throws(SheafError) {
        // A file replaced (renamed over) while it is being opened is opened again:
        // the reader then sees the new complete file.
        var attempt = 0
        while true {
            do {
                self = try Self.open(path: path)
                return
            } catch {
                attempt += 1
                guard error.message == Self.replacedMessage, attempt < 5 else { throw error }
            }
        }
    }

    static let replacedMessage = "the file was replaced while it was being opened"

    /// Opens the HDF5 file; when that fails because `path` was renamed over since
    /// `opened` was taken, says so (the caller opens the new file).
    private static func openHDF5(_ hdf5Path: String, path: String, opened: stat) throws(SheafError) -> HDF5File {
        do {
            return try HDF5File.open(path: hdf5Path)
        } catch {
            var now = stat()
            if stat(path, &now) == 0, now.st_ino != opened.st_ino || now.st_dev != opened.st_dev {
                throw SheafError(.io, file: path, replacedMessage)
            }
            throw SheafError.hdf5(error, file: path)
        }
    }

    private init(path: String, kind: SheafKind, version: String, checksumAlgorithm: ChecksumAlgorithm,
                 metadata: Metadata, entries: [Entry], positions: [String: Int], file: consuming HDF5File,
                 tensors: consuming HDF5Group, descriptor: Int32, fileSize: Int) {
        self.path = path
        self.kind = kind
        self.version = version
        self.checksumAlgorithm = checksumAlgorithm
        self.metadata = metadata
        self.entries = entries
        self.positions = positions
        self.file = file
        self.tensors = tensors
        self.descriptor = descriptor
        self.fileSize = fileSize
    }

    private static func open(path: String) throws(SheafError) -> SheafFile {
        // Open the file once and let HDF5 open that same inode through /proc, so a
        // rename over `path` in between (a checkpoint being replaced) cannot pair
        // one file's index with another file's bytes.
        let (handle, fileSize) = try FileDescriptor.openRegularFile(path)
        let descriptor = handle.rawValue
        var opened = false
        defer { if !opened { handle.close() } }
        let sameFile = "/proc/self/fd/\(descriptor)"
        let openedInfo = try handle.status(path)
        let hdf5Path = sameFile
        guard HDF5Library.hasSignature(descriptor: descriptor, size: fileSize) else {
            throw SheafError(.notHDF5, file: path, "not an HDF5 file (no HDF5 signature found)")
        }
        let file = try openHDF5(hdf5Path, path: path, opened: openedInfo)
        let root = try hdf5(path) { () throws(HDF5Error) in try file.root() }
        let rootAttributes = try hdf5(path) { () throws(HDF5Error) in try HDF5Attributes.names(of: root.id, path: "\(path):/") }

        func stringAttribute(_ name: String) throws(SheafError) -> String? {
            guard rootAttributes.contains(name) else { return nil }
            guard case .string(let value)? = try hdf5(path, { () throws(HDF5Error) in
                try HDF5Attributes.read(name, on: root.id, path: path)
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
        guard let kind = SheafKind(rawValue: kindName) else {
            throw SheafError(.unknownKind, file: path, "unknown kind '\(kindName)', expected tensor, list or dict")
        }
        guard let algorithmName = try stringAttribute(FormatLayout.checksumAttribute) else {
            throw SheafError(.invalidFile, file: path, "missing root attribute '\(FormatLayout.checksumAttribute)'")
        }
        guard let algorithm = ChecksumAlgorithm(rawValue: algorithmName) else {
            throw SheafError(.unsupported, file: path, "unknown checksum algorithm '\(algorithmName)', expected xxh3-64 or crc32")
        }
        let metadata = try Self.readMetadata(root.id, names: rootAttributes, path: path, key: nil)

        // The index.
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
            var bytes = [UInt8](repeating: 0, count: shape[0])
            let type = try HDF5Datatype.int(bits: 8, signed: false)
            if !bytes.isEmpty {
                try bytes.withUnsafeMutableBytes { buffer in
                    Result { () throws(HDF5Error) in try dataset.read(into: buffer, as: type) }
                }.get()
            }
            return bytes
        }
        guard let json else {
            throw SheafError(.invalidIndex, file: path, "index dataset must be a 1-d uint8 array")
        }
        guard !json.isEmpty else {
            throw SheafError(.limitExceeded, file: path, "index is empty or larger than \(FormatLayout.maxIndexBytes) bytes")
        }
        // The fast reader; Foundation's decoder describes what is wrong when it fails.
        let document: IndexDocument
        switch IndexParser.parse(json) {
        case .document(let parsed): document = parsed
        case .duplicate(let key): throw SheafError(.invalidIndex, file: path, key: key, "duplicate key in the index")
        case .malformed:
            // Foundation's decoder says what is wrong, at a cost in memory of many
            // times the input: only for indexes small enough to afford it.
            guard json.count <= 1 << 20 else {
                throw SheafError(.invalidIndex, file: path, "the index is not JSON of the form Spec/FORMAT.md section 8 gives")
            }
            document = try JSON.decode(IndexDocument.self, from: json, file: path)
        }
        if let recorded = document.metadata_checksum {
            guard let expected = algorithm.parse(recorded) else {
                throw SheafError(.invalidIndex, file: path, "metadata_checksum '\(recorded)' is not a \(algorithm.rawValue) hex value")
            }
            let found = MetadataDigest.encode(metadata).withUnsafeBytes { algorithm.digest($0) }
            guard found == expected else {
                throw SheafError(.checksumMismatch, file: path,
                                 "file metadata checksum mismatch: the metadata attributes do not match the index's \(algorithm.rawValue) checksum \(recorded)")
            }
        }
        let (entries, positions) = try Self.validate(document, kind: kind, algorithm: algorithm, fileSize: fileSize, path: path)
        guard try hdf5(path, { () throws(HDF5Error) in try root.contains(FormatLayout.tensorsGroup) }) else {
            throw SheafError(.invalidFile, file: path, "missing group '/\(FormatLayout.tensorsGroup)'")
        }
        let tensors = try hdf5(path) { () throws(HDF5Error) in try root.openGroup(FormatLayout.tensorsGroup) }
        opened = true
        return SheafFile(path: path, kind: kind, version: version, checksumAlgorithm: algorithm, metadata: metadata,
                         entries: entries, positions: positions, file: file, tensors: tensors, descriptor: descriptor,
                         fileSize: fileSize)
    }

    deinit { close(descriptor) }

    static func validate(_ document: IndexDocument, kind: SheafKind, algorithm: ChecksumAlgorithm,
                         fileSize: Int, path: String) throws(SheafError) -> ([Entry], [String: Int]) {
        guard document.tensors.count <= FormatLayout.maxTensors else {
            throw SheafError(.limitExceeded, file: path, "index lists \(document.tensors.count) tensors, over the limit of \(FormatLayout.maxTensors)")
        }
        var entries: [Entry] = []
        var positions: [String: Int] = [:]
        entries.reserveCapacity(document.tensors.count)
        for raw in document.tensors {
            let key = raw.key
            do { _ = try FormatLayout.linkName(for: key) } catch { throw error.with(file: path, key: key) }
            guard positions[key] == nil else {
                throw SheafError(.invalidIndex, file: path, key: key, "duplicate key in the index")
            }
            guard let dtype = DType(rawValue: raw.dtype) else {
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
            if let offset = raw.offset {
                guard storage == .contiguous, offset >= 0, offset <= fileSize, raw.nbytes <= fileSize - offset else {
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
            positions[key] = entries.count
            entries.append(Entry(key: key, dtype: dtype, shape: raw.shape, byteCount: raw.nbytes, storage: storage,
                                 offset: raw.offset, checksum: checksum, tiedTo: raw.tied_to, hasMetadata: raw.metadata,
                                 metadataChecksum: metadataChecksum))
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

    static func readMetadata(_ object: HDF5ID, names: [String], path: String, key: String?) throws(SheafError) -> Metadata {
        var metadata: Metadata = [:]
        for name in names where !name.hasPrefix(FormatLayout.reservedPrefix) {
            let value: HDF5AttributeValue?
            do { value = try HDF5Attributes.read(name, on: object, path: path) } catch {
                if error.refusal == .malformed {
                    throw SheafError(.invalidMetadata, file: path, key: key, "metadata attribute '\(name)' is \(error.message)")
                }
                throw SheafError.hdf5(error, file: path, key: key)
            }
            switch value {
            case .string(let v)?: metadata[name] = .string(v)
            case .int(let v)?: metadata[name] = .int(v)
            case .float(let v)?: metadata[name] = .float(v)
            case .bool(let v)?: metadata[name] = .bool(v)
            case .strings(let v)?: metadata[name] = .strings(v)
            case .ints(let v)?: metadata[name] = .ints(v)
            case .floats(let v)?: metadata[name] = .floats(v)
            case .bools(let v)?: metadata[name] = .bools(v)
            case nil: continue  // attributes of other types are not metadata; readers ignore them
            }
        }
        return metadata
    }

    /// The index entry for `key`.
    public func entry(_ key: String) throws(SheafError) -> Entry {
        guard let position = positions[key] else {
            throw SheafError(.keyNotFound, file: path, key: key, "no such key; the file has \(entries.count) keys")
        }
        return entries[position]
    }
}
