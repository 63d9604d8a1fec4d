/// The element types a Sheaf tensor can hold. The raw value is the name the
/// file format uses (see Spec/FORMAT.md, "Dtypes").
public enum DType: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case bool
    case uint8, uint16, uint32, uint64
    case int8, int16, int32, int64
    case float16, bfloat16, float32, float64
    case complex64, complex128
    case float8_e4m3fn, float8_e5m2

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .bool, .uint8, .int8, .float8_e4m3fn, .float8_e5m2: 1
        case .uint16, .int16, .float16, .bfloat16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .complex64: 8
        case .complex128: 16
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .bfloat16, .float32, .float64, .float8_e4m3fn, .float8_e5m2: true
        default: false
        }
    }

    public var isComplex: Bool { self == .complex64 || self == .complex128 }

    public var isInteger: Bool {
        switch self {
        case .uint8, .uint16, .uint32, .uint64, .int8, .int16, .int32, .int64: true
        default: false
        }
    }

    public var isSigned: Bool {
        switch self {
        case .int8, .int16, .int32, .int64: true
        default: isFloatingPoint || isComplex
        }
    }

    public var description: String { rawValue }

    /// Every dtype by its format name: one hash lookup, where `init(rawValue:)`
    /// compares against each name in turn (the index reader looks up one per tensor).
    static let named: [String: DType] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    /// Parses a dtype name, also accepting common aliases (`f32`, `float`, `half`, `bf16`, …).
    public init?(name: String) {
        if let exact = DType(rawValue: name) { self = exact; return }
        switch name.lowercased() {
        case "float", "f32", "fp32": self = .float32
        case "double", "f64", "fp64": self = .float64
        case "half", "f16", "fp16": self = .float16
        case "bf16": self = .bfloat16
        case "long", "i64": self = .int64
        case "int", "i32": self = .int32
        case "short", "i16": self = .int16
        case "i8": self = .int8
        case "u8", "byte": self = .uint8
        case "u16": self = .uint16
        case "u32": self = .uint32
        case "u64": self = .uint64
        case "cfloat", "c64": self = .complex64
        case "cdouble", "c128": self = .complex128
        default: return nil
        }
    }
}
