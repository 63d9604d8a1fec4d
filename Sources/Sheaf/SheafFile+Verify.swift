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
        let file: SheafFile
        do { file = try SheafFile(path: path) } catch {
            return [VerificationProblem(key: error.key, message: error.message, code: error.code)]
        }
        return file.verify()
    }

    /// Checks this open file; see ``verify(path:)``.
    public func verify() -> [VerificationProblem] {
        var problems: [VerificationProblem] = []
        func report(_ key: String?, _ code: SheafError.Code, _ message: String) {
            problems.append(VerificationProblem(key: key, message: message, code: code))
        }
        // Data: every tensor read and checked against the index, checksum included.
        for entry in entries where entry.tiedTo == nil {
            do { _ = try read(entry, verifyChecksum: true) } catch {
                report(entry.key, error.code, error.message)
            }
        }
        // Structure.
        do {
            try guarded(nil) { () throws in
                let links = try tensors.links(limit: FormatLayout.maxTensors)
                let names = Set(links.map(\.name))
                var expected: [String: Entry] = [:]
                for entry in entries { expected[try FormatLayout.linkName(for: entry.key)] = entry }
                var addresses: [String: UInt64] = [:]
                var owners: [UInt64: String] = [:]
                for (name, kind) in links {
                    guard let entry = expected[name] else {
                        report(nil, .invalidIndex, "/\(FormatLayout.tensorsGroup)/\(name) is not listed in the index")
                        continue
                    }
                    guard kind == .hard else {
                        report(entry.key, .unsupported, "/\(FormatLayout.tensorsGroup)/\(name) is \(kind == .soft ? "a soft link" : kind == .external ? "an external link" : "a user-defined link"), not a hard link to a dataset in this file")
                        continue
                    }
                    let target = try tensors.linkTarget(name)
                    guard target == .dataset else {
                        report(entry.key, .invalidFile, "/\(FormatLayout.tensorsGroup)/\(name) must be a hard link to a dataset, found \(target)")
                        continue
                    }
                    let dataset = try tensors.openDataset(name)
                    let address = try dataset.objectAddress()
                    addresses[entry.key] = address
                    if entry.tiedTo == nil {
                        if let other = owners[address] {
                            report(entry.key, .invalidIndex, "is the same dataset as '\(other)' but the index does not say it is tied")
                        }
                        owners[address] = entry.key
                    }
                    let attributes = try HDF5Attributes.names(of: dataset.id, path: dataset.path)
                    if attributes.contains(FormatLayout.dtypeAttribute) {
                        let value = try HDF5Attributes.read(FormatLayout.dtypeAttribute, on: dataset.id, path: dataset.path)
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
                    let (layout, filters) = try dataset.layout()
                    switch entry.storage {
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
                for entry in entries {
                    let name = try FormatLayout.linkName(for: entry.key)
                    if !names.contains(name) {
                        report(entry.key, .invalidIndex, "listed in the index but /\(FormatLayout.tensorsGroup)/\(name) does not exist")
                    }
                    if let owner = entry.tiedTo, let a = addresses[entry.key], let b = addresses[owner], a != b {
                        report(entry.key, .invalidIndex, "index says tied to '\(owner)' but the links name different datasets")
                    }
                }
            }
        } catch {
            report(error.key, error.code, error.message)
        }
        return problems
    }
}
