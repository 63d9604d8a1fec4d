/// A typed metadata value stored on a file or on a tensor: a string, an integer,
/// a float, a bool, or a list of one of them.
public enum MetadataValue: Sendable, Equatable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case strings([String])
    case ints([Int64])
    case floats([Double])
    case bools([Bool])

    public var description: String {
        switch self {
        case .string(let v): "\"\(v)\""
        case .int(let v): "\(v)"
        case .float(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .strings(let v): "\(v)"
        case .ints(let v): "\(v)"
        case .floats(let v): "\(v)"
        case .bools(let v): "\(v)"
        }
    }

    /// The name of the value's type as the spec and `sheaf inspect --json` write it.
    /// The value on one line: a long or multi-line string (a model's config.json)
    /// shows its start and its length; other values as ``description``.
    public var abbreviated: String {
        guard case .string(let text) = self, text.count > 72 || text.contains("\n") else { return description }
        let flat = text.split(whereSeparator: \.isNewline).map { line in
            String(line.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
        }.joined(separator: " ")
        return "\"\(flat.prefix(60))…\" (\(text.count) characters)"
    }

    public var typeName: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .float: "float"
        case .bool: "bool"
        case .strings: "list[string]"
        case .ints: "list[int]"
        case .floats: "list[float]"
        case .bools: "list[bool]"
        }
    }
}

extension MetadataValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .float(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// Metadata attached to a file or a tensor. Names starting with `sheaf_` are
/// reserved for the format.
public typealias Metadata = [String: MetadataValue]
