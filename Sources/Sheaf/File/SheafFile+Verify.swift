import SheafHDF5

/// One rule of Spec/FORMAT.md that a file breaks.
public struct VerificationProblem: Sendable, Equatable, CustomStringConvertible {
    /// The key the problem is about, if any.
    public var key: String?
    public var message: String
    public var code: SheafError.Code

    public init(key: String?, message: String, code: SheafError.Code) {
        self.key = key
        self.message = message
        self.code = code
    }

    public var description: String { key.map { "key '\($0)': \(message)" } ?? message }
}

extension SheafFile {
    /// Checks `path` against every rule of Spec/FORMAT.md: root attributes,
    /// index, one dataset per key with the declared dtype and shape, tied keys
    /// as hard links to one object, untied keys as distinct objects, alignment and
    /// offsets of contiguous data, storage kinds, metadata flags, and every
    /// checksum over every byte. Returns the problems found; empty means valid.
    /// - Complexity: O(total bytes + number of objects).
    public static func verify(path: String) -> [VerificationProblem] {
        if SheafSet.isSetIndex(path: path) { return SheafSet.verify(path: path) }
        let file: SheafFile
        do { file = try SheafFile(path: path) } catch {
            // SheafFile refuses a distributed checkpoint's master; probed only then.
            if error.code == .unsupported, DistributedCheckpoint.isMaster(path: path) { return DistributedCheckpoint.verify(path: path) }
            return [VerificationProblem(key: error.key, message: error.message, code: error.code)]
        }
        return file.verify()
    }

    /// Checks this open file; see ``verify(path:)``.
    ///
    /// One pass over `/tensors`: each dataset is opened once, checked against the
    /// index and the format's rules, and (unless tied) read and checksummed.
    /// - Complexity: O(total bytes + number of objects); memory O(largest tensor).
    public func verify() -> [VerificationProblem] {
        var problems: [VerificationProblem] = []
        func report(_ key: String?, _ code: SheafError.Code, _ message: String) {
            problems.append(VerificationProblem(key: key, message: message, code: code))
        }
        let links: [(name: String, kind: HDF5Group.LinkKind)]
        var expected: [String: Entry] = [:]
        var packedNames: [String: String] = [:]
        do {
            links = try hdf5(path) { () throws(HDF5Error) in try tensors.links(limit: FormatLayout.maxTensors) }
            for entry in entries {
                if entry.packed == nil { expected[try FormatLayout.linkName(for: entry.key)] = entry }
                else { packedNames[try FormatLayout.linkName(for: entry.key)] = entry.key }
            }
        } catch {
            return [VerificationProblem(key: error.key, message: error.message, code: error.code)]
        }
        verifyBinaryIndex(report: report)
        let names = Set(links.map(\.name))
        var addresses: [String: UInt64] = [:]
        var owners: [UInt64: String] = [:]
        for (name, kind) in links {
            let object = "/\(FormatLayout.tensorsGroup)/\(name)"
            guard let entry = expected[name] else {
                if let key = packedNames[name] {
                    report(key, .invalidIndex, "\(object) exists but the index says this key is packed (§18)")
                    continue
                }
                report(nil, .invalidIndex, "\(object) is not listed in the index")
                continue
            }
            guard kind == .hard else {
                report(entry.key, .unsupported, "\(object) is \(kind == .soft ? "a soft link" : kind == .external ? "an external link" : "a user-defined link"), not a hard link to a dataset in this file")
                continue
            }
            do {
                try withDataset(entry) { dataset throws(SheafError) in
                    let address = try hdf5(path, key: entry.key) { () throws(HDF5Error) in try dataset.objectAddress() }
                    addresses[entry.key] = address
                    if entry.tiedTo == nil {
                        if let other = owners[address] {
                            report(entry.key, .invalidIndex, "is the same dataset as '\(other)' but the index does not say it is tied")
                        }
                        owners[address] = entry.key
                    }
                    try checkStructure(entry, dataset, report: report)
                    // The data, checked against the index, checksum included (once per dataset).
                    if entry.tiedTo == nil {
                        do throws(SheafError) {
                            let tensor = try read(entry, dataset, verifyChecksum: true)
                            try checkBlocks(tensor, entry)
                        } catch {
                            report(entry.key, error.code, error.message)
                        }
                    }
                }
            } catch {
                // Opening it as a dataset failed: say what the link names instead, when that is the reason.
                if error.code == .hdf5, let target = try? tensors.linkTarget(name), target != .dataset {
                    report(entry.key, .invalidFile, "\(object) must be a hard link to a dataset, found \(target)")
                } else {
                    report(error.key ?? entry.key, error.code, error.message)
                }
            }
        }
        verifyPacked(report: report)
        for entry in entries where entry.packed == nil {
            guard let name = try? FormatLayout.linkName(for: entry.key) else { continue }
            if !names.contains(name) {
                report(entry.key, .invalidIndex, "listed in the index but /\(FormatLayout.tensorsGroup)/\(name) does not exist")
            }
            if let owner = entry.tiedTo, let a = addresses[entry.key], let b = addresses[owner], a != b {
                report(entry.key, .invalidIndex, "index says tied to '\(owner)' but the links name different datasets")
            }
        }
        return problems
    }

    /// Section 8.2: a binary index says what the JSON index says. The open
    /// read the binary index; here the JSON is read and checked as a reader
    /// without the binary index would, and every entry, the structure, the
    /// metadata checksum and the recorded checksum of the JSON's bytes compared.
    private func verifyBinaryIndex(report: (String?, SheafError.Code, String) -> Void) {
        let json: CheckedIndex
        do throws(SheafError) {
            let root = try hdf5(path) { () throws(HDF5Error) in try file.root() }
            guard try BinaryIndex.isPresent(in: root, path: path) else { return }
            json = try Self.checkJSONIndex(try Self.readIndexBytes(root, path: path), kind: kind, algorithm: checksumAlgorithm,
                                           fileSize: fileSize, path: path)
        } catch {
            report(error.key, error.code, "the JSON index (read without the binary index): \(error.message)")
            return
        }
        let binaryName = "/\(FormatLayout.binaryIndexGroup)"
        if json.indexChecksum != indexChecksum {
            report(nil, .invalidIndex, "\(binaryName) records an \(BinaryIndex.indexChecksumAttribute) that is not the checksum of /\(FormatLayout.indexDataset)'s bytes (§8.2)")
        }
        if let expected = json.metadataChecksum,
           MetadataDigest.encode(metadata).withUnsafeBytes({ checksumAlgorithm.digest($0) }) != expected {
            report(nil, .checksumMismatch, "file metadata checksum mismatch: the metadata attributes do not match the JSON index's \(checksumAlgorithm.rawValue) checksum")
        }
        if json.structure != structure {
            report(nil, .invalidIndex, "\(binaryName) and /\(FormatLayout.indexDataset) record different checkpoint structures (§8.2)")
        }
        if json.table.count != table.count {
            report(nil, .invalidIndex, "\(binaryName) lists \(table.count) tensors, /\(FormatLayout.indexDataset) lists \(json.table.count) (§8.2)")
        }
        for position in 0..<min(json.table.count, table.count) {
            let entry = table.entry(at: position), written = json.table.entry(at: position)
            if entry != written {
                report(entry.key, .invalidIndex, "\(binaryName) entry \(position) differs from the JSON index's entry for '\(written.key)' (§8.2)")
            }
        }
    }

    /// The rules of sections 4, 6 and 8 that concern one dataset's object: the
    /// dtype attribute, the metadata flag, the layout and filters, alignment.
    private func checkStructure(_ entry: Entry, _ dataset: borrowing HDF5Dataset,
                                report: (String?, SheafError.Code, String) -> Void) throws(SheafError) {
        let attributes = try hdf5(path, key: entry.key) { () throws(HDF5Error) in try dataset.attributes.names() }
        if attributes.contains(FormatLayout.dtypeAttribute) {
            let value = try hdf5(path, key: entry.key) { () throws(HDF5Error) in
                try dataset.attributes.read(FormatLayout.dtypeAttribute)
            }
            if value != .string(entry.dtype.rawValue) {
                report(entry.key, .dtypeMismatch, "dataset attribute \(FormatLayout.dtypeAttribute) is \(value.map { "\($0)" } ?? "not a string"), index says '\(entry.dtype)'")
            }
        } else {
            report(entry.key, .invalidFile, "dataset lacks the \(FormatLayout.dtypeAttribute) attribute")
        }
        let hasUser = attributes.contains { !$0.hasPrefix(FormatLayout.reservedPrefix) }
        if hasUser != entry.hasMetadata {
            report(entry.key, .invalidIndex, "index says metadata \(entry.hasMetadata), dataset has \(hasUser ? "" : "no ")user attributes")
        }
        let (layout, filters) = try hdf5(path, key: entry.key) { () throws(HDF5Error) in try dataset.layout() }
        switch entry.storage {
        case .packed:
            break  // not in /tensors: verifyPacked
        case .contiguous:
            if layout != .contiguous && !(layout == .compact && entry.offset == nil) {
                report(entry.key, .invalidIndex, "index says contiguous, dataset layout is \(layout)")
            }
            if let offset = entry.offset, offset % FormatLayout.alignment != 0 {
                report(entry.key, .invalidFile, "contiguous data at offset \(offset) is not aligned to \(FormatLayout.alignment) bytes")
            }
            if !filters.isEmpty {
                report(entry.key, .invalidFile, "contiguous data must have no filters, found filters \(filters)")
            }
        case .deflate:
            // H5Z_FILTER_DEFLATE = 1, H5Z_FILTER_SHUFFLE = 2 (§6: shuffle, then deflate).
            if layout != .chunked || !(filters == [2, 1] || filters == [1]) {
                report(entry.key, .invalidFile, "index says deflate (§6: chunked, shuffle then deflate), dataset is \(layout) with filters \(filters)")
            }
        }
    }
}
