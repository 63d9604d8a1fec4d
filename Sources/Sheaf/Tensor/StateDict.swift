import OrderedCollections

/// An ordered dictionary of named tensors, like PyTorch's `state_dict`, plus
/// file-level metadata.
///
/// Keys keep insertion order; assigning to an existing key replaces the tensor
/// in place, and assigning `nil` removes the key. Two keys that hold tensors
/// sharing one storage (`sd["a"] = w; sd["b"] = w`) are tied: the file stores
/// the data once and loading gives both keys one shared storage again.
///
/// Backed by swift-collections' `OrderedDictionary`: lookup and appending a
/// new key are O(1) (amortized), removing a key is O(count).
public struct StateDict: Sendable, Equatable, Sequence {
    private var tensors: OrderedDictionary<String, Tensor> = [:]
    /// Typed metadata written on the file.
    public var metadata: Metadata = [:]

    public init() {}

    /// A state dict of `pairs` in order; a repeated key keeps its first position
    /// and its last tensor.
    public init(_ pairs: [(String, Tensor)], metadata: Metadata = [:]) {
        tensors.reserveCapacity(pairs.count)
        for (key, tensor) in pairs { tensors[key] = tensor }
        self.metadata = metadata
    }

    /// `keys` (which must be distinct) with `tensors`, in order, without
    /// checking for repeats.
    init(uniqueKeys keys: [String], tensors: [Tensor], metadata: Metadata) {
        self.tensors = OrderedDictionary(uncheckedUniqueKeys: keys, values: tensors)
        self.metadata = metadata
    }

    /// The keys in order.
    /// - Complexity: O(count) (a copy).
    public var keys: [String] { tensors.keys.elements }
    public var count: Int { tensors.count }
    public var isEmpty: Bool { tensors.isEmpty }

    /// The tensor for `key`; setting `nil` removes the key.
    /// - Complexity: O(1) to read, replace or append; O(count) to remove.
    public subscript(key: String) -> Tensor? {
        get { tensors[key] }
        set { tensors[key] = newValue }
    }

    /// The tensor for `key`, or an error naming the key.
    public func tensor(_ key: String) throws(SheafError) -> Tensor {
        guard let tensor = tensors[key] else {
            throw SheafError(.keyNotFound, key: key, "no such key; the state dict has \(tensors.count) keys")
        }
        return tensor
    }

    /// Iterates `(key, tensor)` pairs in order.
    public struct Iterator: IteratorProtocol {
        var base: OrderedDictionary<String, Tensor>.Iterator
        public mutating func next() -> (key: String, tensor: Tensor)? {
            base.next().map { (key: $0.key, tensor: $0.value) }
        }
    }

    public func makeIterator() -> Iterator { Iterator(base: tensors.makeIterator()) }

    /// Pairs of keys whose tensors share storage: (key, the first key holding that storage).
    /// - Complexity: O(count).
    public var tiedKeys: [(key: String, tiedTo: String)] {
        var first: [ObjectIdentifier: String] = [:]
        var result: [(String, String)] = []
        for (key, tensor) in tensors {
            let id = ObjectIdentifier(tensor.storage)
            if let owner = first[id] { result.append((key, owner)) } else { first[id] = key }
        }
        return result
    }

    public static func == (a: StateDict, b: StateDict) -> Bool {
        a.metadata == b.metadata && a.tensors == b.tensors
    }
}
