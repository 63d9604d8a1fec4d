import Sheaf

/// One tensor of a ``TensorSource``, described without reading it.
public struct SourceEntry: Sendable, Equatable {
    public var key: String
    public var dtype: DType
    public var shape: [Int]
    /// The earlier key this one shares its tensor with, when the format says so.
    public var tiedTo: String?
    /// How the input stores it, for `sheaf inspect` (`contiguous`, `deflate`, `zip stored`, …).
    public var storage: String

    public init(key: String, dtype: DType, shape: [Int], tiedTo: String? = nil, storage: String) {
        self.key = key
        self.dtype = dtype
        self.shape = shape
        self.tiedTo = tiedTo
        self.storage = storage
    }

    /// Bytes of the tensor's data.
    public var byteCount: Int { (try? Shape.byteCount(shape, dtype)) ?? 0 }
}

/// A file of tensors in some format, opened with its index read and its data
/// read one tensor at a time, so converting needs memory for about one tensor.
public protocol TensorSource: AnyObject {
    var path: String { get }
    var format: InterchangeFormat { get }
    /// What the file holds: one tensor, a list, or a keyed dict.
    var kind: SheafKind { get }
    /// File-level metadata (safetensors `__metadata__`, Sheaf metadata,
    /// non-tensor leaves of a flattened checkpoint).
    var metadata: Metadata { get }
    var entries: [SourceEntry] { get }
    /// Lines describing what the reader had to reshape (flattened containers, …).
    var notes: [String] { get }
    /// Reads the tensor of `entries[index]`.
    func tensor(at index: Int) throws(SheafError) -> Tensor
    /// The version of the format the file declares, where it declares one (Sheaf: `"1.0"`).
    var formatVersion: String? { get }
    /// Each key's checksum as `ALGORITHM:HEX`, where the format records them.
    var checksums: [String: String] { get }
    /// The nesting of the checkpoint the entries and metadata were flattened
    /// from, where the source knows it (a nested PyTorch checkpoint, a Sheaf
    /// file that recorded one).
    var structure: CheckpointNode? { get }
    /// Checks the file against every rule of its format, checksums included,
    /// where the format defines such a check (Sheaf); nil otherwise.
    func verify() -> [VerificationProblem]?
}

extension TensorSource {
    public var notes: [String] { [] }
    public var formatVersion: String? { nil }
    public var structure: CheckpointNode? { nil }
    public var checksums: [String: String] { [:] }
    public func verify() -> [VerificationProblem]? { nil }

    /// Reads every tensor into a state dict; tied keys share storage.
    /// - Complexity: O(total bytes) time and memory.
    public func stateDict() throws(SheafError) -> StateDict {
        var sd = StateDict()
        for (index, entry) in entries.enumerated() {
            if let owner = entry.tiedTo, let tensor = sd[owner] { sd[entry.key] = tensor; continue }
            sd[entry.key] = try tensor(at: index)
        }
        sd.metadata = metadata
        return sd
    }

    /// The index of `key`.
    public func index(of key: String) throws(SheafError) -> Int {
        guard let index = entries.firstIndex(where: { $0.key == key }) else {
            throw SheafError(.keyNotFound, file: path, key: key, "no such key; the file has \(entries.count) keys")
        }
        return index
    }
}
