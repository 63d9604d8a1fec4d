/// The nesting of a checkpoint whose tensors and values a Sheaf file holds
/// flat (Spec/FORMAT.md §8.1): a training checkpoint `{'model': state_dict,
/// 'optimizer': {'state': {0: {...}}, ...}, 'epoch': 3}` is stored as dotted
/// tensor keys and metadata values, and this tree says how to put it back —
/// dicts (ordered or not) with string, integer, bool or None keys, lists,
/// tuples, None. A reader that ignores it sees the flat state dict.
public indirect enum CheckpointNode: Sendable, Equatable {
    /// A dict; `ordered` for an `OrderedDict`.
    case dict(ordered: Bool, items: [CheckpointItem])
    case list([CheckpointNode])
    case tuple([CheckpointNode])
    /// The tensor of an index key.
    case tensor(String)
    /// A file metadata value; `asTuple` when a list metadata value was a tuple.
    case metadata(String, asTuple: Bool)
    case none

    /// The deepest nesting a structure may have.
    public static let maxDepth = 64

    /// Every index key and metadata name the tree refers to.
    public var references: (tensors: [String], metadata: [String]) {
        var tensors: [String] = [], metadata: [String] = []
        func visit(_ node: CheckpointNode) {
            switch node {
            case .dict(_, let items): for item in items { visit(item.value) }
            case .list(let nodes), .tuple(let nodes): for node in nodes { visit(node) }
            case .tensor(let key): tensors.append(key)
            case .metadata(let name, _): metadata.append(name)
            case .none: break
            }
        }
        visit(self)
        return (tensors, metadata)
    }
}

/// One item of a dict in a ``CheckpointNode``.
public struct CheckpointItem: Sendable, Equatable {
    public var key: CheckpointKey
    public var value: CheckpointNode
    public init(key: CheckpointKey, value: CheckpointNode) { self.key = key; self.value = value }
}

/// A dict key as Python had it.
public enum CheckpointKey: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case none
}

// JSON: a node is an object with one member naming its kind —
// {"dict": [[KEY, NODE], ...], "ordered": BOOL}, {"list": [NODE, ...]},
// {"tuple": [NODE, ...]}, {"tensor": "KEY"}, {"metadata": "NAME", "tuple": BOOL},
// {"none": null}; a key is a JSON string, integer, true/false or null.
extension CheckpointNode: Codable {
    private enum Member: String, CodingKey { case dict, ordered, list, tuple, tensor, metadata, none }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Member.self)
        switch self {
        case .dict(let ordered, let items):
            var pairs = container.nestedUnkeyedContainer(forKey: .dict)
            for item in items {
                var pair = pairs.nestedUnkeyedContainer()
                try pair.encode(item.key)
                try pair.encode(item.value)
            }
            try container.encode(ordered, forKey: .ordered)
        case .list(let nodes): try container.encode(nodes, forKey: .list)
        case .tuple(let nodes): try container.encode(nodes, forKey: .tuple)
        case .tensor(let key): try container.encode(key, forKey: .tensor)
        case .metadata(let name, let asTuple):
            try container.encode(name, forKey: .metadata)
            if asTuple { try container.encode(true, forKey: .tuple) }
        case .none: try container.encodeNil(forKey: .none)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Member.self)
        if container.contains(.dict) {
            var pairs = try container.nestedUnkeyedContainer(forKey: .dict)
            var items: [CheckpointItem] = []
            while !pairs.isAtEnd {
                var pair = try pairs.nestedUnkeyedContainer()
                items.append(CheckpointItem(key: try pair.decode(CheckpointKey.self), value: try pair.decode(CheckpointNode.self)))
            }
            self = .dict(ordered: try container.decodeIfPresent(Bool.self, forKey: .ordered) ?? false, items: items)
        } else if let name = try container.decodeIfPresent(String.self, forKey: .metadata) {
            self = .metadata(name, asTuple: try container.decodeIfPresent(Bool.self, forKey: .tuple) ?? false)
        } else if container.contains(.list) {
            self = .list(try container.decode([CheckpointNode].self, forKey: .list))
        } else if container.contains(.tuple) {
            self = .tuple(try container.decode([CheckpointNode].self, forKey: .tuple))
        } else if let key = try container.decodeIfPresent(String.self, forKey: .tensor) {
            self = .tensor(key)
        } else if container.contains(.none) {
            self = .none
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a structure node"))
        }
    }

    /// The node a ``JSONReader`` value describes, or nil when it is not one.
    static func parse(_ value: JSONReader.Value, depth: Int = 0) -> CheckpointNode? {
        guard depth < maxDepth, case .object(let members) = value, !members.isEmpty else { return nil }
        let kind = members[0].0
        let body = members[0].1
        var flag: Bool?
        for member in members.dropFirst() {
            guard flag == nil, member.0 == (kind == "dict" ? "ordered" : "tuple"), case .bool(let b) = member.1 else { return nil }
            flag = b
        }
        guard flag == nil || kind == "dict" || kind == "metadata" else { return nil }
        switch kind {
        case "dict":
            guard case .array(let pairs) = body else { return nil }
            var items: [CheckpointItem] = []
            for pair in pairs {
                guard case .array(let parts) = pair, parts.count == 2, let key = CheckpointKey.parse(parts[0]),
                      let node = parse(parts[1], depth: depth + 1) else { return nil }
                items.append(CheckpointItem(key: key, value: node))
            }
            return .dict(ordered: flag ?? false, items: items)
        case "list", "tuple":
            guard case .array(let elements) = body else { return nil }
            var nodes: [CheckpointNode] = []
            for element in elements {
                guard let node = parse(element, depth: depth + 1) else { return nil }
                nodes.append(node)
            }
            return kind == "list" ? .list(nodes) : .tuple(nodes)
        case "tensor":
            guard case .string(let key) = body else { return nil }
            return .tensor(key)
        case "metadata":
            guard case .string(let name) = body else { return nil }
            return .metadata(name, asTuple: flag ?? false)
        case "none":
            if case .null = body { return CheckpointNode.none }
            return nil
        default:
            return nil
        }
    }
}

extension CheckpointKey: Codable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text): try container.encode(text)
        case .int(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .none: try container.encodeNil()
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .none }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .int(value) }
        else { self = .string(try container.decode(String.self)) }
    }

    static func parse(_ value: JSONReader.Value) -> CheckpointKey? {
        switch value {
        case .string(let text): .string(text)
        case .integer(let number): .int(Int64(number))
        case .bool(let flag): .bool(flag)
        case .null: CheckpointKey.none
        default: nil
        }
    }
}
