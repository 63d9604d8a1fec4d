/// One parameter or buffer of a module tree, for state-dict code.
public enum AnyTensorSlot {
    case parameter(Parameter)
    case buffer(Buffer)

    public var value: NDArray {
        get {
            switch self {
            case .parameter(let p): p.value
            case .buffer(let b): b.value
            }
        }
        nonmutating set {
            switch self {
            case .parameter(let p): p.value = newValue
            case .buffer(let b): b.value = newValue
            }
        }
    }

    /// Whether the slot belongs in the state dict.
    var persistent: Bool {
        if case .buffer(let b) = self { return b.persistent }
        return true
    }

    var identity: ObjectIdentifier {
        switch self {
        case .parameter(let p): ObjectIdentifier(p)
        case .buffer(let b): ObjectIdentifier(b)
        }
    }
}

/// A module's direct members as discovery finds them.
enum Member {
    case module(Module)
    case slot(AnyTensorSlot)
}

/// Finds a module's members by reflection, the way PyTorch names them: stored
/// properties in declaration order (superclass first); arrays by index
/// (`layers.0`, PyTorch's `ModuleList`); string-keyed dictionaries by key in
/// sorted order (`ModuleDict`); optionals when set; ``ModuleInfo`` keys as
/// renames. A property that holds arrays, parameters or modules in any other
/// way is an error, never skipped silently.
enum Discovery {
    static func members(of module: Module) throws -> [(String, Member)] {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: module)
        while let current = mirror { mirrors.insert(current, at: 0); mirror = current.superclassMirror }
        var result: [(String, Member)] = []
        for mirror in mirrors {
            for child in mirror.children {
                guard var name = child.label else { continue }
                var value = child.value
                if let keyed = value as? StateKeyed {
                    if name.hasPrefix("_") { name.removeFirst() }
                    if let key = keyed.stateKey { name = key }
                    guard let wrapped = keyed.anyValue else { continue }
                    value = wrapped
                }
                try collect(name, value, owner: module, into: &result)
            }
        }
        return result
    }

    private static func collect(_ name: String, _ value: Any, owner: Module, into result: inout [(String, Member)]) throws {
        let unwrapped = unwrap(value)
        guard let value = unwrapped else { return }
        switch value {
        case let module as Module: result.append((name, .module(module)))
        case let parameter as Parameter: result.append((name, .slot(.parameter(parameter))))
        case let buffer as Buffer: result.append((name, .slot(.buffer(buffer))))
        case is NDArray:
            throw unregistered(owner, name, "holds an NDArray directly")
        default:
            guard holdsState(value) else { return }
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .collection?:
                for (index, element) in mirror.children.enumerated() where holdsState(element.value) {
                    try collectElement("\(name).\(index)", element.value, owner: owner, into: &result)
                }
            case .dictionary?:
                var entries: [(String, Any)] = []
                for pair in mirror.children {
                    let parts = Array(Mirror(reflecting: pair.value).children)
                    guard parts.count == 2, holdsState(parts[1].value) else { continue }
                    guard let key = parts[0].value as? String else {
                        throw unregistered(owner, name, "is a dictionary with non-string keys")
                    }
                    entries.append((key, parts[1].value))
                }
                for (key, element) in entries.sorted(by: { $0.0 < $1.0 }) {
                    try collectElement("\(name).\(key)", element, owner: owner, into: &result)
                }
            default:
                throw unregistered(owner, name, "holds modules, parameters or arrays in a \(type(of: value))")
            }
        }
    }

    /// An element of an array or dictionary: a module, parameter or buffer.
    private static func collectElement(_ name: String, _ value: Any, owner: Module, into result: inout [(String, Member)]) throws {
        switch unwrap(value) {
        case let module as Module: result.append((name, .module(module)))
        case let parameter as Parameter: result.append((name, .slot(.parameter(parameter))))
        case let buffer as Buffer: result.append((name, .slot(.buffer(buffer))))
        case nil: break
        case let other?: throw unregistered(owner, name, "holds a \(type(of: other)) in a collection")
        }
    }

    private static func unregistered(_ owner: Module, _ name: String, _ what: String) -> RuntimeError {
        RuntimeError(.unregisteredProperty,
                     "\(owner.typeName).\(name) \(what), which the state dict cannot name; hold arrays as Parameter (learnable) or Buffer (saved; persistent: false to leave it out), and modules directly, in arrays, or in [String: …] dictionaries")
    }

    /// The wrapped value of an optional (nil when empty), or the value itself.
    static func unwrap(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return value }
        guard let inner = mirror.children.first?.value else { return nil }
        return unwrap(inner)
    }

    /// Whether a value is or contains (a few levels down) a module, parameter, buffer or array.
    static func holdsState(_ value: Any, depth: Int = 0) -> Bool {
        guard let value = unwrap(value) else { return false }
        if value is Module || value is Parameter || value is Buffer || value is NDArray { return true }
        guard depth < 3 else { return false }
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .class { return false }
        // A few elements tell: collections hold one kind of thing.
        return mirror.children.prefix(8).contains { holdsState($0.value, depth: depth + 1) }
    }
}
