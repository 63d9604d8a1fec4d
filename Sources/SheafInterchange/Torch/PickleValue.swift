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

/// An insertion-ordered dict; keys are strings, ints, bools or None (as text).
final class PickleDict {
    var keys: [String] = []
    var values: [String: PickleValue] = [:]

    func set(_ key: String, _ value: PickleValue) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
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
