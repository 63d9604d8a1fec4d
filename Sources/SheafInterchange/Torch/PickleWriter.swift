import Sheaf

/// Builds a pickle program (protocol 2) of the few shapes a `torch.save`
/// checkpoint needs, with the opcodes torch itself emits for them.
struct PickleWriter {
    private(set) var bytes: [UInt8] = []

    init() { emit(.proto, [2]) }

    private mutating func emit(_ opcode: PickleOpcode, _ operand: [UInt8] = []) {
        bytes.append(opcode.rawValue)
        bytes += operand
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    mutating func mark() { emit(.mark) }
    mutating func stop() { emit(.stop) }
    mutating func reduce() { emit(.reduce) }
    mutating func emptyTuple() { emit(.emptyTuple) }
    mutating func emptyList() { emit(.emptyList) }
    mutating func appends() { emit(.appends) }
    mutating func setItems() { emit(.setitems) }
    mutating func tupleFromMark() { emit(.tuple) }
    mutating func persistentID() { emit(.binpersid) }
    mutating func bool(_ value: Bool) { emit(value ? .newtrue : .newfalse) }
    mutating func none() { emit(.noneValue) }
    mutating func emptyDict() { emit(.emptyDict) }
    mutating func tupleOfMark() { emit(.tuple) }

    /// `BINFLOAT`: the IEEE binary64, big-endian.
    mutating func float(_ value: Double) {
        emit(.binfloat, withUnsafeBytes(of: value.bitPattern.bigEndian) { Array($0) })
    }

    /// A dict key as Python had it.
    mutating func key(_ key: CheckpointKey) {
        switch key {
        case .string(let text): string(text)
        case .int(let value): int(Int(value))
        case .bool(let value): bool(value)
        case .none: none()
        }
    }

    /// A metadata value: a scalar, or a list (or tuple) of scalars.
    mutating func value(_ value: MetadataValue, asTuple: Bool) {
        func sequence(_ count: Int, _ item: (inout PickleWriter, Int) -> Void) {
            if asTuple { mark() } else { emptyList(); mark() }
            for index in 0..<count { item(&self, index) }
            if asTuple { tupleOfMark() } else { appends() }
        }
        switch value {
        case .string(let v): string(v)
        case .int(let v): int(Int(v))
        case .float(let v): float(v)
        case .bool(let v): bool(v)
        case .strings(let v): sequence(v.count) { $0.string(v[$1]) }
        case .ints(let v): sequence(v.count) { $0.int(Int(v[$1])) }
        case .floats(let v): sequence(v.count) { $0.float(v[$1]) }
        case .bools(let v): sequence(v.count) { $0.bool(v[$1]) }
        }
    }

    /// `GLOBAL 'module name'`.
    mutating func global(_ module: String, _ name: String) {
        emit(.global, Array((module + "\n" + name + "\n").utf8))
    }

    mutating func string(_ text: String) {
        let utf8 = Array(text.utf8)
        emit(.binunicode, Self.littleEndian(UInt32(utf8.count)) + utf8)
    }

    /// The shortest of BININT1, BININT2, BININT, LONG1 that holds `value`.
    mutating func int(_ value: Int) {
        if (0..<0x100).contains(value) {
            emit(.binint1, [UInt8(value)])
        } else if (0..<0x1_0000).contains(value) {
            emit(.binint2, Self.littleEndian(UInt16(value)))
        } else if let small = Int32(exactly: value) {
            emit(.binint, Self.littleEndian(small))
        } else {
            var digits = Self.littleEndian(Int64(value))
            // Minimal two's complement: drop bytes that only repeat the sign.
            while digits.count > 1, (digits[digits.count - 1] == 0 && digits[digits.count - 2] & 0x80 == 0)
                || (digits[digits.count - 1] == 0xFF && digits[digits.count - 2] & 0x80 != 0) {
                digits.removeLast()
            }
            emit(.long1, [UInt8(digits.count)] + digits)
        }
    }

    /// A tuple of ints, with TUPLE1-3 where they fit, as pickle does.
    mutating func tuple(_ values: [Int]) {
        switch values.count {
        case 0: emptyTuple()
        case 1...3:
            for value in values { int(value) }
            emit(values.count == 1 ? .tuple1 : values.count == 2 ? .tuple2 : .tuple3)
        default:
            mark()
            for value in values { int(value) }
            tupleFromMark()
        }
    }
}
