import Sheaf

/// A pickle reader that understands the opcodes `torch.save` emits (protocols
/// 2-5) and executes nothing: `GLOBAL` may only name the allow-listed globals
/// below, and `REDUCE` applies them itself. Everything else is refused with an
/// error naming it.
struct Unpickler {
    static let maxStack = 1_000_000
    static let maxMemo = 10_000_000
    static let maxMarks = 10_000
    static let maxStringBytes = 256 << 20

    let data: [UInt8]
    let file: String
    var position = 0
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]
    var storages: [String: PickleStorage] = [:]
    /// Every list and dict made, so ``releaseContainers()`` can break reference
    /// cycles a pickle builds (a list appended to itself).
    var containers: [AnyObject] = []
    /// Untyped storages seen as a dtype by `_rebuild_tensor_v3`, by "key|dtype".
    var retyped: [String: PickleStorage] = [:]
    /// How to find a storage's size (the byte count of its data member), or nil
    /// when the sizes are checked after the pickle (the legacy format, whose
    /// storages follow the pickles): persistent ids are then recorded as they
    /// are, and 6-part legacy ids are accepted.
    let storageBytes: ((String) -> Int?)?
    /// Set when the program ran past the end of ``data`` (more bytes may complete it).
    private(set) var ranOut = false

    init(data: [UInt8], file: String, start: Int = 0, storageBytes: ((String) -> Int?)?) {
        self.data = data
        self.file = file
        self.position = start
        self.storageBytes = storageBytes
    }

    /// Where the next pickle program starts (after a ``load()``).
    var end: Int { position }
    /// The storages the program referred to, by key.
    var referencedStorages: [String: PickleStorage] { storages }

    func fail(_ message: String, _ code: SheafError.Code = .invalidFile) -> SheafError {
        SheafError(code, file: file, "pickle at byte \(position): \(message)")
    }

    mutating func byte() throws(SheafError) -> UInt8 {
        guard position < data.count else { ranOut = true; throw fail("ends before STOP") }
        defer { position += 1 }
        return data[position]
    }

    mutating func take(_ n: Int) throws(SheafError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= data.count - position else {
            ranOut = n >= 0
            throw fail("needs \(n) bytes, \(data.count - position) left")
        }
        defer { position += n }
        return data[position..<(position + n)]
    }

    mutating func uint(_ n: Int) throws(SheafError) -> UInt64 {
        var value: UInt64 = 0
        for (i, b) in try take(n).enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
        return value
    }

    mutating func line() throws(SheafError) -> String {
        guard let end = data[position...].prefix(1024).firstIndex(of: 0x0A) else {
            ranOut = data.count - position < 1024
            throw fail("unterminated text line")
        }
        defer { position = end + 1 }
        return String(decoding: data[position..<end], as: UTF8.self)
    }

    mutating func push(_ value: PickleValue) throws(SheafError) {
        guard stack.count < Self.maxStack else { throw fail("stack deeper than \(Self.maxStack)", .limitExceeded) }
        stack.append(value)
    }

    mutating func pop() throws(SheafError) -> PickleValue {
        guard let value = stack.popLast() else { throw fail("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw fail("pops past a MARK") }
        return value
    }

    mutating func popMark() throws(SheafError) -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw fail("no MARK to pop to") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    mutating func memoize(_ index: Int) throws(SheafError) {
        guard index >= 0, index < Int(UInt32.max) else { throw fail("memo index \(index) out of range", .limitExceeded) }
        guard let top = stack.last else { throw fail("memo put on an empty stack") }
        guard memo.count < Self.maxMemo || memo[index] != nil else { throw fail("memo over \(Self.maxMemo) entries", .limitExceeded) }
        memo[index] = top
    }

    mutating func recall(_ index: Int) throws(SheafError) {
        guard let value = memo[index] else { throw fail("memo index \(index) was never stored") }
        try push(value)
    }

    mutating func string(_ count: Int) throws(SheafError) -> String {
        guard count <= Self.maxStringBytes else { throw fail("string of \(count) bytes over the limit", .limitExceeded) }
        return String(decoding: try take(count), as: UTF8.self)
    }

    /// Runs the pickle program and returns its result.
    mutating func load() throws(SheafError) -> PickleValue {
        while true {
            let code = try byte()
            guard let op = PickleOpcode(rawValue: code) else {
                throw fail(String(format: "opcode 0x%02x is not one torch.save emits; refused", code), .unsupported)
            }
            switch op {
            case .proto: _ = try byte()
            case .frame: _ = try uint(8)
            case .stop: return try pop()
            case .mark:
                guard marks.count < Self.maxMarks else { throw fail("MARKs nested deeper than \(Self.maxMarks)", .limitExceeded) }
                marks.append(stack.count)
            case .emptyDict:
                let dict = PickleDict(ordered: false)
                containers.append(dict)
                try push(.dict(dict))
            case .emptyList:
                let list = PickleList()
                containers.append(list)
                try push(.list(list))
            case .emptyTuple: try push(.tuple([]))
            case .noneValue: try push(.none)
            case .newtrue: try push(.bool(true))
            case .newfalse: try push(.bool(false))
            case .binint1: try push(.int(Int64(try byte())))
            case .binint2: try push(.int(Int64(try uint(2))))
            case .binint: try push(.int(Int64(Int32(truncatingIfNeeded: try uint(4)))))
            case .long1, .long4:
                let n = op == .long1 ? Int(try byte()) : Int(Int32(truncatingIfNeeded: try uint(4)))
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
            case .binfloat:  // BINFLOAT, big-endian
                var bits: UInt64 = 0
                for b in try take(8) { bits = bits << 8 | UInt64(b) }
                try push(.float(Double(bitPattern: bits)))
            case .binunicode: try push(.string(try string(Int(try uint(4)))))
            case .shortBinunicode: try push(.string(try string(Int(try byte()))))
            case .binunicode8:
                let n = try uint(8)
                guard n <= UInt64(Self.maxStringBytes) else { throw fail("string over the limit", .limitExceeded) }
                try push(.string(try string(Int(n))))
            case .shortBinstring: try push(.string(try string(Int(try byte()))))
            case .binstring: try push(.string(try string(Int(Int32(truncatingIfNeeded: try uint(4))))))
            case .shortBinbytes: try push(.bytes(Array(try take(Int(try byte())))))
            case .binbytes:
                let n = Int(try uint(4))
                guard n <= Self.maxStringBytes else { throw fail("bytes over the limit", .limitExceeded) }
                try push(.bytes(Array(try take(n))))
            case .binput: try memoize(Int(try byte()))
            case .longBinput: try memoize(Int(try uint(4)))
            case .memoize: try memoize(memo.count)
            case .binget: try recall(Int(try byte()))
            case .longBinget: try recall(Int(try uint(4)))
            case .pop: _ = try pop()
            case .popMark: _ = try popMark()
            case .dup:
                guard let top = stack.last else { throw fail("DUP on an empty stack") }
                try push(top)
            case .tuple: try push(.tuple(try popMark()))
            case .tuple1: try push(.tuple([try pop()]))
            case .tuple2:
                let b = try pop(), a = try pop()
                try push(.tuple([a, b]))
            case .tuple3:
                let c = try pop(), b = try pop(), a = try pop()
                try push(.tuple([a, b, c]))
            case .append:
                let value = try pop()
                guard case .list(let list)? = stack.last else { throw fail("APPEND to a non-list") }
                list.items.append(value)
            case .appends:
                let items = try popMark()
                guard case .list(let list)? = stack.last else { throw fail("APPENDS to a non-list") }
                list.items.append(contentsOf: items)
            case .setitem:
                let value = try pop(), key = try pop()
                guard case .dict(let dict)? = stack.last else { throw fail("SETITEM on a non-dict") }
                try insert(key, value, into: dict)
            case .setitems:
                let items = try popMark()
                guard items.count % 2 == 0, case .dict(let dict)? = stack.last else { throw fail("SETITEMS on a non-dict") }
                for i in stride(from: 0, to: items.count, by: 2) { try insert(items[i], items[i + 1], into: dict) }
            case .global:
                let module = try line(), name = try line()
                try push(try global(module, name))
            case .stackGlobal:
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                try push(try global(module, name))
            case .reduce:
                let arguments = try pop(), callable = try pop()
                try push(try reduce(callable, arguments))
            case .build:
                let state = try pop()
                guard let target = stack.last else { throw fail("BUILD on an empty stack") }
                switch target {
                case .dict, .tensor: _ = state  // OrderedDict._metadata, tensor subclass state: not data
                default: throw fail("BUILD on a \(target.typeName) is not allowed", .unsupported)
                }
            case .binpersid:
                try push(try persistent(try pop()))
            case .newobj, .newobjEx:
                throw fail("NEWOBJ creates arbitrary objects; refused", .unsupported)
            case .inst, .obj:
                throw fail("INST/OBJ create arbitrary objects; refused", .unsupported)
            case .persid:
                throw fail("text persistent ids are not used by torch.save; refused", .unsupported)
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

    /// Sets `key` to `value` in `dict`; keys are strings, ints, bools or None.
    func insert(_ key: PickleValue, _ value: PickleValue, into dict: PickleDict) throws(SheafError) {
        let typed: CheckpointKey
        switch key {
        case .string(let s): typed = .string(s)
        case .int(let i): typed = .int(i)
        case .bool(let b): typed = .bool(b)
        case .none: typed = .none
        default: throw fail("dict key of type \(key.typeName) is not supported", .unsupported)
        }
        guard dict.set(typed, value) else {
            throw fail("dict has keys of two types that read the same ('\(PickleDict.text(of: typed))'); Sheaf keys are text", .unsupported)
        }
    }
}
