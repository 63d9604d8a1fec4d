import Sheaf

/// A Hugging Face `config.json`, read with typed, range-checked accessors so a
/// hostile configuration is an error before anything is allocated.
public struct ModelConfiguration: Sendable {
    /// The parsed JSON object.
    let values: [String: JSONScalar]
    /// Where it came from, for messages.
    public let origin: String

    /// The JSON values a configuration uses (nested objects kept as text).
    enum JSONScalar: Sendable, Equatable {
        case number(Double), bool(Bool), string(String), null, object([String: JSONScalar]), array([JSONScalar])
    }

    /// Parses `config.json` text (Sheaf's strict JSON reader: depth-limited, no duplicates).
    public init(json text: String, origin: String = "config.json") throws {
        self.origin = origin
        guard let parsed = JSONReader.value(of: Array(text.utf8)), case .object(let members) = parsed else {
            throw ModelError(.invalidConfiguration, "\(origin) is not a JSON object")
        }
        values = Self.object(members)
    }

    /// The `hf_config` metadata of a converted model folder (Spec §10.1).
    public init(metadata: Metadata, origin: String) throws {
        guard case .string(let text)? = metadata["hf_config"] else {
            throw ModelError(.invalidConfiguration, "\(origin) has no hf_config metadata (the config.json of a Hugging Face model folder); convert the model folder itself, or name the architecture")
        }
        try self.init(json: text, origin: "\(origin) (hf_config)")
    }

    static func object(_ members: [(String, JSONReader.Value)]) -> [String: JSONScalar] {
        var result: [String: JSONScalar] = [:]
        for member in members { result[member.0] = scalar(member.1) }
        return result
    }

    static func scalar(_ value: JSONReader.Value) -> JSONScalar {
        switch value {
        case .object(let members): return .object(object(members))
        case .array(let items):
            var result: [JSONScalar] = []
            for item in items { result.append(scalar(item)) }
            return .array(result)
        case .string(let text): return .string(text)
        case .integer(let number): return .number(Double(number))
        case .number(let number): return .number(number)
        case .bool(let flag): return .bool(flag)
        case .null: return .null
        }
    }

    public func has(_ key: String) -> Bool {
        if let value = values[key], value != .null { return true }
        return false
    }

    /// An integer in `range`, or `defaultValue` when absent.
    public func int(_ key: String, default defaultValue: Int? = nil, in range: ClosedRange<Int> = 1...(1 << 24)) throws -> Int {
        switch values[key] {
        case nil, .null?:
            guard let defaultValue else { throw ModelError(.invalidConfiguration, "\(origin) lacks \(key)") }
            return defaultValue
        case .number(let number)?:
            guard number.rounded() == number, number >= Double(range.lowerBound), number <= Double(range.upperBound) else {
                throw ModelError(.invalidConfiguration, "\(origin): \(key) must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return Int(number)
        default:
            throw ModelError(.invalidConfiguration, "\(origin): \(key) must be an integer")
        }
    }

    /// A finite number, or `defaultValue` when absent.
    public func double(_ key: String, default defaultValue: Double) throws -> Double {
        switch values[key] {
        case nil, .null?: return defaultValue
        case .number(let number)? where number.isFinite: return number
        default: throw ModelError(.invalidConfiguration, "\(origin): \(key) must be a number")
        }
    }

    public func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        switch values[key] {
        case nil, .null?: return defaultValue
        case .bool(let value)?: return value
        default: throw ModelError(.invalidConfiguration, "\(origin): \(key) must be true or false")
        }
    }

    public func string(_ key: String) -> String? {
        if case .string(let value)? = values[key] { return value }
        return nil
    }

    /// The token ids of `key`, which may be one integer or a list (`eos_token_id`).
    public func tokenIDs(_ key: String) -> [Int] {
        switch values[key] {
        case .number(let n)? where n >= 0 && n.rounded() == n && n < 1e9: return [Int(n)]
        case .array(let items)?:
            return items.compactMap { if case .number(let n) = $0, n >= 0, n.rounded() == n, n < 1e9 { return Int(n) }; return nil }
        default: return []
        }
    }

    /// A nested object as its own configuration (`rope_scaling`), nil when absent.
    public func object(_ key: String) -> ModelConfiguration? {
        guard case .object(let inner)? = values[key] else { return nil }
        return ModelConfiguration(values: inner, origin: "\(origin) \(key)")
    }

    init(values: [String: JSONScalar], origin: String) {
        self.values = values
        self.origin = origin
    }

    /// The architecture family (`model_type`).
    public var modelType: String? { string("model_type") }
}

/// Checks a checkpoint against the shapes a configuration implies, before the
/// model is built: each mismatch is named, so a config/weights disagreement is
/// one clear error instead of an allocation sized by the configuration.
struct ShapeCheck {
    let stateDict: StateDict
    let origin: String
    var problems: [String] = []

    init(_ stateDict: StateDict, origin: String) {
        self.stateDict = stateDict
        self.origin = origin
    }

    /// `key` must have `shape` (any of `keys`, when the checkpoint may name it either way).
    mutating func expect(_ key: String, _ shape: [Int], optional: Bool = false) {
        guard let tensor = stateDict[key] else {
            if !optional { problems.append("\(key) is missing (the configuration implies shape \(shape))") }
            return
        }
        if tensor.shape != shape { problems.append("\(key) has shape \(tensor.shape), the configuration implies \(shape)") }
    }

    /// The number of blocks `prefix.N.` present in the checkpoint must be `count`.
    mutating func expectBlocks(_ prefix: String, _ count: Int, _ name: String) {
        var indices = Set<Int>()
        for key in stateDict.keys where key.hasPrefix(prefix) {
            let rest = key.dropFirst(prefix.count)
            if let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]) { indices.insert(index) }
        }
        if indices.count != count { problems.append("the configuration's \(name) is \(count), the weights have \(indices.count) blocks (\(prefix)N)") }
    }

    func check() throws {
        guard problems.isEmpty else {
            throw ModelError(.configurationMismatch, "\(origin): the weights do not fit the configuration:\n\t" + problems.prefix(8).joined(separator: "\n\t")
                             + (problems.count > 8 ? "\n\t… and \(problems.count - 8) more" : ""))
        }
    }
}
