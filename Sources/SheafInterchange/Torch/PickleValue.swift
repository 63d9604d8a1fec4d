import Sheaf

/// A value built by the restricted ``Unpickler``. Nothing in it can run code:
/// callables are only the few globals a weights file needs, applied by this
/// reader itself.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer outside Int64, kept as its little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// An allowed global (module, name), not yet applied.
    case global(String, String)
    /// A storage named by a persistent id.
    case storage(PickleStorage)
    /// A tensor view of a storage.
    case tensor(PickleTensor)

    var typeName: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .dict: "dict"
        case .global(let m, let n): "\(m).\(n)"
        case .storage: "storage"
        case .tensor: "tensor"
        }
    }
}

final class PickleList { var items: [PickleValue] = [] }

/// An insertion-ordered dict; keys are strings, ints, bools or None, looked
/// up by their text (`3`, `True`, `None`) with the typed key kept.
final class PickleDict {
    var keys: [String] = []
    var values: [String: PickleValue] = [:]
    /// Each key as the pickle had it.
    var typedKeys: [String: CheckpointKey] = [:]
    /// Made by `collections.OrderedDict` (not a plain `{}`).
    let ordered: Bool

    init(ordered: Bool) { self.ordered = ordered }

    /// Sets `key`; false when a key of another type has the same text (`1` and `"1"`).
    func set(_ key: CheckpointKey, _ value: PickleValue) -> Bool {
        let text = Self.text(of: key)
        if let existing = typedKeys[text], existing != key { return false }
        typedKeys[text] = key
        if values.updateValue(value, forKey: text) == nil { keys.append(text) }
        return true
    }

    /// The text a key is looked up (and flattened) by.
    static func text(of key: CheckpointKey) -> String {
        switch key {
        case .string(let s): s
        case .int(let i): String(i)
        case .bool(let b): b ? "True" : "False"
        case .none: "None"
        }
    }
}

final class PickleStorage {
    let key: String
    let dtype: DType
    let count: Int
    init(key: String, dtype: DType, count: Int) { self.key = key; self.dtype = dtype; self.count = count }
}

final class PickleTensor {
    let storage: PickleStorage
    let offset: Int
    let shape: [Int]
    let strides: [Int]
    init(storage: PickleStorage, offset: Int, shape: [Int], strides: [Int]) {
        self.storage = storage; self.offset = offset; self.shape = shape; self.strides = strides
    }
}
