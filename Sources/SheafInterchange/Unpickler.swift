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

/// A pickle reader that understands the opcodes `torch.save` emits (protocols
/// 2-5) and executes nothing: `GLOBAL` may only name the allow-listed globals
/// below, and `REDUCE` applies them itself. Everything else is refused with an
/// error naming it.
struct Unpickler {
    static let maxStack = 1_000_000
    static let maxMemo = 10_000_000
    static let maxMarks = 10_000
    static let maxStringBytes = 256 << 20

    /// Typed storage classes and their dtypes.
    static let storageTypes: [String: DType] = [
        "DoubleStorage": .float64, "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
        "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
        "ByteStorage": .uint8, "BoolStorage": .bool, "ComplexFloatStorage": .complex64,
        "ComplexDoubleStorage": .complex128, "UInt16Storage": .uint16, "UInt32Storage": .uint32,
        "UInt64Storage": .uint64, "Float8_e4m3fnStorage": .float8_e4m3fn, "Float8_e5m2Storage": .float8_e5m2,
    ]

    static let torchDTypes: [String: DType] = [
        "float64": .float64, "double": .float64, "float32": .float32, "float": .float32, "float16": .float16,
        "half": .float16, "bfloat16": .bfloat16, "int64": .int64, "long": .int64, "int32": .int32, "int": .int32,
        "int16": .int16, "short": .int16, "int8": .int8, "uint8": .uint8, "bool": .bool, "complex64": .complex64,
        "complex128": .complex128, "uint16": .uint16, "uint32": .uint32, "uint64": .uint64,
        "float8_e4m3fn": .float8_e4m3fn, "float8_e5m2": .float8_e5m2,
    ]

    static let allowedCallables: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch.storage.UntypedStorage", "torch.UntypedStorage", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2", "_codecs.encode", "torch.Size", "builtins.set", "builtins.frozenset",
        "torch.nn.parameter.Parameter", "torch.Tensor", "torch.device",
    ]

    let data: [UInt8]
    let file: String
    private var position = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var storages: [String: PickleStorage] = [:]
    /// Every list and dict made, so ``releaseContainers()`` can break reference
    /// cycles a pickle builds (a list appended to itself).
    private var containers: [AnyObject] = []
    /// Untyped storages seen as a dtype by `_rebuild_tensor_v3`, by "key|dtype".
    private var retyped: [String: PickleStorage] = [:]
    /// How to find a storage's size: the byte count of its data member.
    let storageBytes: (String) -> Int?

    init(data: [UInt8], file: String, storageBytes: @escaping (String) -> Int?) {
        self.data = data
        self.file = file
        self.storageBytes = storageBytes
    }

    private func fail(_ message: String, _ code: SheafError.Code = .invalidFile) -> SheafError {
        SheafError(code, file: file, "pickle at byte \(position): \(message)")
    }

    private mutating func byte() throws(SheafError) -> UInt8 {
        guard position < data.count else { throw fail("ends before STOP") }
        defer { position += 1 }
        return data[position]
    }

    private mutating func take(_ n: Int) throws(SheafError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= data.count - position else { throw fail("needs \(n) bytes, \(data.count - position) left") }
        defer { position += n }
        return data[position..<(position + n)]
    }

    private mutating func uint(_ n: Int) throws(SheafError) -> UInt64 {
        var value: UInt64 = 0
        for (i, b) in try take(n).enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
        return value
    }

    private mutating func line() throws(SheafError) -> String {
        guard let end = data[position...].prefix(1024).firstIndex(of: 0x0A) else { throw fail("unterminated text line") }
        defer { position = end + 1 }
        return String(decoding: data[position..<end], as: UTF8.self)
    }

    private mutating func push(_ value: PickleValue) throws(SheafError) {
        guard stack.count < Self.maxStack else { throw fail("stack deeper than \(Self.maxStack)", .limitExceeded) }
        stack.append(value)
    }

    private mutating func pop() throws(SheafError) -> PickleValue {
        guard let value = stack.popLast() else { throw fail("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw fail("pops past a MARK") }
        return value
    }

    private mutating func popMark() throws(SheafError) -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw fail("no MARK to pop to") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func memoize(_ index: Int) throws(SheafError) {
        guard index >= 0, index < Int(UInt32.max) else { throw fail("memo index \(index) out of range", .limitExceeded) }
        guard let top = stack.last else { throw fail("memo put on an empty stack") }
        guard memo.count < Self.maxMemo || memo[index] != nil else { throw fail("memo over \(Self.maxMemo) entries", .limitExceeded) }
        memo[index] = top
    }

    private mutating func recall(_ index: Int) throws(SheafError) {
        guard let value = memo[index] else { throw fail("memo index \(index) was never stored") }
        try push(value)
    }

    private mutating func string(_ count: Int) throws(SheafError) -> String {
        guard count <= Self.maxStringBytes else { throw fail("string of \(count) bytes over the limit", .limitExceeded) }
        return String(decoding: try take(count), as: UTF8.self)
    }

    /// Runs the pickle program and returns its result.
    mutating func load() throws(SheafError) -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()  // PROTO
            case 0x95: _ = try uint(8)  // FRAME
            case 0x2E: return try pop()  // STOP
            case 0x28:  // MARK
                guard marks.count < Self.maxMarks else { throw fail("MARKs nested deeper than \(Self.maxMarks)", .limitExceeded) }
                marks.append(stack.count)
            case 0x7D:  // EMPTY_DICT
                let dict = PickleDict()
                containers.append(dict)
                try push(.dict(dict))
            case 0x5D:  // EMPTY_LIST
                let list = PickleList()
                containers.append(list)
                try push(.list(list))
            case 0x29: try push(.tuple([]))  // EMPTY_TUPLE
            case 0x4E: try push(.none)
            case 0x88: try push(.bool(true))
            case 0x89: try push(.bool(false))
            case 0x4B: try push(.int(Int64(try byte())))  // BININT1
            case 0x4D: try push(.int(Int64(try uint(2))))  // BININT2
            case 0x4A: try push(.int(Int64(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A, 0x8B:  // LONG1, LONG4
                let n = op == 0x8A ? Int(try byte()) : Int(Int32(truncatingIfNeeded: try uint(4)))
                guard n >= 0, n <= 1 << 20 else { throw fail("LONG of \(n) bytes", .limitExceeded) }
                let bytes = Array(try take(n))
                if n <= 8 {
                    var value: UInt64 = 0
                    for (i, b) in bytes.enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
                    if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 { value |= ~0 << (8 * UInt64(n)) }
                    try push(.int(Int64(bitPattern: value)))
                } else {
                    try push(.bigInt(bytes))
                }
            case 0x47:  // BINFLOAT, big-endian
                var bits: UInt64 = 0
                for b in try take(8) { bits = bits << 8 | UInt64(b) }
                try push(.float(Double(bitPattern: bits)))
            case 0x58: try push(.string(try string(Int(try uint(4)))))  // BINUNICODE
            case 0x8C: try push(.string(try string(Int(try byte()))))  // SHORT_BINUNICODE
            case 0x8D:  // BINUNICODE8
                let n = try uint(8)
                guard n <= UInt64(Self.maxStringBytes) else { throw fail("string over the limit", .limitExceeded) }
                try push(.string(try string(Int(n))))
            case 0x55: try push(.string(try string(Int(try byte()))))  // SHORT_BINSTRING
            case 0x54: try push(.string(try string(Int(Int32(truncatingIfNeeded: try uint(4))))))  // BINSTRING
            case 0x43: try push(.bytes(Array(try take(Int(try byte())))))  // SHORT_BINBYTES
            case 0x42:  // BINBYTES
                let n = Int(try uint(4))
                guard n <= Self.maxStringBytes else { throw fail("bytes over the limit", .limitExceeded) }
                try push(.bytes(Array(try take(n))))
            case 0x71: try memoize(Int(try byte()))  // BINPUT
            case 0x72: try memoize(Int(try uint(4)))  // LONG_BINPUT
            case 0x94: try memoize(memo.count)  // MEMOIZE
            case 0x68: try recall(Int(try byte()))  // BINGET
            case 0x6A: try recall(Int(try uint(4)))  // LONG_BINGET
            case 0x30: _ = try pop()  // POP
            case 0x31: _ = try popMark()  // POP_MARK
            case 0x32:  // DUP
                guard let top = stack.last else { throw fail("DUP on an empty stack") }
                try push(top)
            case 0x74: try push(.tuple(try popMark()))  // TUPLE
            case 0x85: try push(.tuple([try pop()]))
            case 0x86:
                let b = try pop(), a = try pop()
                try push(.tuple([a, b]))
            case 0x87:
                let c = try pop(), b = try pop(), a = try pop()
                try push(.tuple([a, b, c]))
            case 0x61:  // APPEND
                let value = try pop()
                guard case .list(let list)? = stack.last else { throw fail("APPEND to a non-list") }
                list.items.append(value)
            case 0x65:  // APPENDS
                let items = try popMark()
                guard case .list(let list)? = stack.last else { throw fail("APPENDS to a non-list") }
                list.items.append(contentsOf: items)
            case 0x73:  // SETITEM
                let value = try pop(), key = try pop()
                guard case .dict(let dict)? = stack.last else { throw fail("SETITEM on a non-dict") }
                dict.set(try dictKey(key), value)
            case 0x75:  // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0, case .dict(let dict)? = stack.last else { throw fail("SETITEMS on a non-dict") }
                for i in stride(from: 0, to: items.count, by: 2) { dict.set(try dictKey(items[i]), items[i + 1]) }
            case 0x63:  // GLOBAL
                let module = try line(), name = try line()
                try push(try global(module, name))
            case 0x93:  // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                try push(try global(module, name))
            case 0x52:  // REDUCE
                let arguments = try pop(), callable = try pop()
                try push(try reduce(callable, arguments))
            case 0x62:  // BUILD
                let state = try pop()
                guard let target = stack.last else { throw fail("BUILD on an empty stack") }
                switch target {
                case .dict, .tensor: _ = state  // OrderedDict._metadata, tensor subclass state: not data
                default: throw fail("BUILD on a \(target.typeName) is not allowed", .unsupported)
                }
            case 0x51:  // BINPERSID
                try push(try persistent(try pop()))
            case 0x81, 0x92:  // NEWOBJ, NEWOBJ_EX
                throw fail("NEWOBJ creates arbitrary objects; refused", .unsupported)
            case 0x69, 0x6F:  // INST, OBJ
                throw fail("INST/OBJ create arbitrary objects; refused", .unsupported)
            case 0x50:
                throw fail("text persistent ids are not used by torch.save; refused", .unsupported)
            default:
                throw fail(String(format: "opcode 0x%02x is not one torch.save emits; refused", op), .unsupported)
            }
        }
    }

    /// Empties every list and dict this unpickler made, breaking any reference
    /// cycles; call it once the result has been used.
    mutating func releaseContainers() {
        for container in containers {
            if let list = container as? PickleList { list.items.removeAll() }
            if let dict = container as? PickleDict { dict.values.removeAll(); dict.keys.removeAll() }
        }
        containers.removeAll()
        memo.removeAll()
        stack.removeAll()
    }

    private func dictKey(_ key: PickleValue) throws(SheafError) -> String {
        switch key {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        default: throw fail("dict key of type \(key.typeName) is not supported", .unsupported)
        }
    }

    private func global(_ module: String, _ name: String) throws(SheafError) -> PickleValue {
        let full = "\(module).\(name)"
        if module == "torch", Self.storageTypes[name] != nil || Self.torchDTypes[name] != nil { return .global(module, name) }
        if Self.allowedCallables.contains(full) { return .global(module, name) }
        throw SheafError(.unsupported, file: file,
                         "pickle refers to the global '\(full)', which a weights file does not need; refused (nothing was executed)")
    }

    private mutating func persistent(_ pid: PickleValue) throws(SheafError) -> PickleValue {
        guard case .tuple(let parts) = pid, parts.count == 5, case .string("storage") = parts[0],
              case .global(let module, let typeName) = parts[1], case .string(let key) = parts[2],
              case .int(let count) = parts[4] else {
            throw fail("persistent id is not ('storage', type, key, location, numel)", .unsupported)
        }
        let dtype: DType
        if typeName == "UntypedStorage" {
            dtype = .uint8  // bytes; _rebuild_tensor_v3 gives the element type
        } else if module == "torch", let typed = Self.storageTypes[typeName] {
            dtype = typed
        } else {
            throw fail("unknown storage type \(module).\(typeName)", .unknownDType)
        }
        if let existing = storages[key] {
            guard existing.dtype == dtype else { throw fail("storage '\(key)' used with two dtypes") }
            return .storage(existing)
        }
        guard count >= 0, let bytes = storageBytes(key) else {
            throw SheafError(.invalidFile, file: file, key: "data/\(key)", "storage '\(key)' has no data member in the archive")
        }
        let (needed, overflow) = Int(count).multipliedReportingOverflow(by: dtype.itemSize)
        guard !overflow, needed == bytes else {
            throw SheafError(.invalidFile, file: file, key: "data/\(key)",
                             "storage '\(key)' claims \(count) \(dtype) elements (\(needed) bytes), the data member holds \(bytes) bytes")
        }
        let storage = PickleStorage(key: key, dtype: dtype, count: Int(count))
        storages[key] = storage
        return .storage(storage)
    }

    private func ints(_ value: PickleValue, _ what: String) throws(SheafError) -> [Int] {
        guard case .tuple(let items) = value else { throw fail("\(what) must be a tuple") }
        guard items.count <= Shape.maxRank else { throw fail("\(what) has \(items.count) dimensions, over \(Shape.maxRank)", .limitExceeded) }
        var result: [Int] = []
        for item in items {
            guard case .int(let v) = item, v >= 0 else { throw fail("\(what) must hold non-negative ints") }
            result.append(Int(v))
        }
        return result
    }

    /// The storage `storage` seen as elements of `dtype` (for `_rebuild_tensor_v3` on untyped storage).
    private mutating func retype(_ storage: PickleStorage, as dtype: DType) throws(SheafError) -> PickleStorage {
        if storage.dtype == dtype { return storage }
        guard storage.dtype == .uint8 else { throw fail("storage '\(storage.key)' is \(storage.dtype), the tensor is \(dtype)") }
        let id = storage.key + "|" + dtype.rawValue
        if let existing = retyped[id] { return existing }
        guard storage.count % dtype.itemSize == 0 else {
            throw fail("storage '\(storage.key)' of \(storage.count) bytes does not hold whole \(dtype) elements")
        }
        let view = PickleStorage(key: storage.key, dtype: dtype, count: storage.count / dtype.itemSize)
        retyped[id] = view
        return view
    }

    private mutating func rebuildTensor(_ args: [PickleValue], version3: Bool = false) throws(SheafError) -> PickleValue {
        guard args.count >= 4, case .storage(var storage) = args[0], case .int(let offset) = args[1], offset >= 0 else {
            throw fail("_rebuild_tensor needs (storage, offset, size, stride, …)")
        }
        if version3 {
            guard args.count >= 7, case .global("torch", let name) = args[6], let dtype = Self.torchDTypes[name] else {
                throw fail("_rebuild_tensor_v3 needs a torch dtype as its 7th argument", .unknownDType)
            }
            storage = try retype(storage, as: dtype)
        }
        let shape = try ints(args[2], "tensor size"), strides = try ints(args[3], "tensor stride")
        guard shape.count == strides.count else { throw fail("size and stride differ in rank") }
        _ = try Shape.elementCount(shape)
        // Every element the view reaches must lie inside the storage.
        if !shape.contains(0) {
            var last = Int(offset)
            for (size, stride) in zip(shape, strides) {
                let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
                let (sum, o2) = last.addingReportingOverflow(step)
                guard !o1, !o2 else { throw fail("tensor view overflows") }
                last = sum
            }
            guard last < storage.count else {
                throw fail("tensor view reaches element \(last) of a \(storage.count)-element storage")
            }
        }
        return .tensor(PickleTensor(storage: storage, offset: Int(offset), shape: shape, strides: strides))
    }

    private mutating func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws(SheafError) -> PickleValue {
        guard case .global(let module, let name) = callable else {
            throw fail("REDUCE on a \(callable.typeName), which is not an allowed callable", .unsupported)
        }
        guard case .tuple(let args) = arguments else { throw fail("REDUCE arguments must be a tuple") }
        switch "\(module).\(name)" {
        case "collections.OrderedDict":
            let dict = PickleDict()
            containers.append(dict)
            if case .list(let pairs)? = args.first {
                for pair in pairs.items {
                    guard case .tuple(let kv) = pair, kv.count == 2 else { throw fail("OrderedDict items must be pairs") }
                    dict.set(try dictKey(kv[0]), kv[1])
                }
            }
            return .dict(dict)
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            return try rebuildTensor(args)
        case "torch._utils._rebuild_tensor_v3":
            return try rebuildTensor(args, version3: true)
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard case .tensor? = args.first else { throw fail("_rebuild_parameter needs a tensor") }
            return args[0]
        case "torch._tensor._rebuild_from_type_v2":
            guard args.count >= 3, case .global(let fm, let fn) = args[0], case .tuple(let inner) = args[2] else {
                throw fail("_rebuild_from_type_v2 needs (function, type, args, state)")
            }
            return try reduce(.global(fm, fn), .tuple(inner))
        case "torch.Size":
            return args.first ?? .tuple([])
        case "_codecs.encode":
            guard case .string(let text)? = args.first else { throw fail("_codecs.encode needs a string") }
            // Protocol 2 pickles bytes as latin-1 text.
            return .bytes(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        case "builtins.set", "builtins.frozenset":
            if case .list(let list)? = args.first { return .tuple(list.items) }
            return .tuple([])
        case "torch.device":
            if case .string(let s)? = args.first { return .string(s) }
            return .string("cpu")
        default:
            throw SheafError(.unsupported, file: file,
                             "pickle calls '\(module).\(name)', which a weights file does not need; refused (nothing was executed)")
        }
    }
}
