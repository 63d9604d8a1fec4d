/// An ordered dictionary of named tensors, like PyTorch's `state_dict`, plus
/// file-level metadata.
///
/// Keys keep insertion order; assigning to an existing key replaces the tensor
/// in place, and assigning `nil` removes the key. Two keys that hold tensors
/// sharing one storage (`sd["a"] = w; sd["b"] = w`) are tied: the file stores
/// the data once and loading gives both keys one shared storage again.
public struct StateDict: Sendable, Equatable, Sequence {
    public private(set) var keys: [String] = []
    private var tensors: [String: Tensor] = [:]
    /// Typed metadata written on the file.
    public var metadata: Metadata = [:]

    public init() {}

    /// A state dict of `pairs` in order; a repeated key keeps its first position
    /// and its last tensor.
    public init(_ pairs: [(String, Tensor)], metadata: Metadata = [:]) {
        for (key, tensor) in pairs { self[key] = tensor }
        self.metadata = metadata
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public subscript(key: String) -> Tensor? {
        get { tensors[key] }
        set {
            if let newValue {
                if tensors.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if tensors.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// The tensor for `key`, or an error naming the key.
    public func tensor(_ key: String) throws(SheafError) -> Tensor {
        guard let tensor = tensors[key] else {
            throw SheafError(.keyNotFound, key: key, "no such key; the state dict has \(keys.count) keys")
        }
        return tensor
    }

    public func makeIterator() -> some IteratorProtocol<(key: String, tensor: Tensor)> {
        var index = 0
        let keys = keys, tensors = tensors
        return AnyIterator {
            guard index < keys.count else { return nil }
            defer { index += 1 }
            return (keys[index], tensors[keys[index]]!)
        }
    }

    /// Pairs of keys whose tensors share storage: (key, the first key holding that storage).
    public var tiedKeys: [(key: String, tiedTo: String)] {
        var first: [ObjectIdentifier: String] = [:]
        var result: [(String, String)] = []
        for key in keys {
            let id = ObjectIdentifier(tensors[key]!.storage)
            if let owner = first[id] { result.append((key, owner)) } else { first[id] = key }
        }
        return result
    }

    public static func == (a: StateDict, b: StateDict) -> Bool {
        a.keys == b.keys && a.metadata == b.metadata && a.keys.allSatisfy { a.tensors[$0] == b.tensors[$0] }
    }
}
