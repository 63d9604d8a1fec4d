#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Tensor {
    /// Saves this tensor as a Sheaf file of kind `tensor`, atomically.
    public func save(to path: String, options: SaveOptions = .default) throws(SheafError) {
        try SheafWriter.write(kind: .tensor, entries: [("0", self)], metadata: [:], to: path, options: options)
    }

    public func save(to url: URL, options: SaveOptions = .default) throws(SheafError) {
        try save(to: url.path, options: options)
    }

    /// Loads the tensor of a Sheaf file of kind `tensor`.
    public init(contentsOf path: String, verifyChecksums: Bool = true) throws(SheafError) {
        let file = try SheafFile(path: path)
        guard file.kind == .tensor else {
            throw SheafError(.invalidArgument, file: path,
                             "holds a \(file.kind.rawValue) of \(file.entries.count) tensors, not one tensor; load it with \(file.kind == .list ? "[Tensor]" : "StateDict")(contentsOf:)")
        }
        self = try file.tensor("0", verifyChecksum: verifyChecksums)
    }

    public init(contentsOf url: URL, verifyChecksums: Bool = true) throws(SheafError) {
        try self.init(contentsOf: url.path, verifyChecksums: verifyChecksums)
    }
}

extension Array where Element == Tensor {
    /// Saves the tensors as a Sheaf file of kind `list`, atomically.
    public func save(to path: String, options: SaveOptions = .default) throws(SheafError) {
        try SheafWriter.write(kind: .list, entries: enumerated().map { (String($0.offset), $0.element) },
                              metadata: [:], to: path, options: options)
    }

    public func save(to url: URL, options: SaveOptions = .default) throws(SheafError) {
        try save(to: url.path, options: options)
    }

    /// Loads the tensors of a Sheaf file of kind `list` (or `tensor`, as one element).
    public init(contentsOf path: String, verifyChecksums: Bool = true) throws(SheafError) {
        let file = try SheafFile(path: path)
        guard file.kind != .dict else {
            throw SheafError(.invalidArgument, file: path,
                             "holds a dict of \(file.entries.count) tensors, not a list; load it with StateDict(contentsOf:)")
        }
        self = try file.stateDict(verifyChecksums: verifyChecksums).map(\.tensor)
    }

    public init(contentsOf url: URL, verifyChecksums: Bool = true) throws(SheafError) {
        try self.init(contentsOf: url.path, verifyChecksums: verifyChecksums)
    }
}

extension StateDict {
    /// Saves the state dict as a Sheaf file of kind `dict`, atomically. Keys that
    /// share storage are written once and stay tied.
    public func save(to path: String, options: SaveOptions = .default) throws(SheafError) {
        try SheafWriter.write(kind: .dict, entries: map { ($0.key, $0.tensor) }, metadata: metadata,
                              to: path, options: options)
    }

    public func save(to url: URL, options: SaveOptions = .default) throws(SheafError) {
        try save(to: url.path, options: options)
    }

    /// Loads every tensor of a Sheaf file (a list or a tensor gets keys "0", "1", …).
    /// `trustIndex` is ``SheafFile/stateDict(verifyChecksums:trustIndex:)``'s.
    /// `path` may also be a sharded set's index (``SheafSet``): the set loads as one state dict.
    public init(contentsOf path: String, verifyChecksums: Bool = true, trustIndex: Bool = true) throws(SheafError) {
        if SheafSet.isSetIndex(path: path) {
            self = try SheafSet(path: path).stateDict(verifyChecksums: verifyChecksums)
            return
        }
        self = try SheafFile(path: path).stateDict(verifyChecksums: verifyChecksums, trustIndex: trustIndex)
    }

    public init(contentsOf url: URL, verifyChecksums: Bool = true) throws(SheafError) {
        try self.init(contentsOf: url.path, verifyChecksums: verifyChecksums)
    }
}
