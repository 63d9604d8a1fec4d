import Sheaf

/// A learnable tensor of a ``Module``. A reference, so a layer and the
/// optimiser (or a second layer, for tied weights) can share it.
public final class Parameter: @unchecked Sendable {
    /// The current value.
    public var value: NDArray

    public init(_ value: NDArray) { self.value = value }

    public var shape: [Int] { value.shape }
    public var device: Device { value.device }
}

/// A non-learnable tensor saved with a module's state (running statistics and the like).
public final class Buffer: @unchecked Sendable {
    public var value: NDArray
    public init(_ value: NDArray) { self.value = value }
}

/// The base class of layers and models, like PyTorch's `nn.Module`.
///
/// Subclasses declare their parameters (``Parameter``), buffers (``Buffer``)
/// and sub-modules as stored properties and override ``forward(_:)``. The
/// state dict names them the way PyTorch does: property names joined with `.`,
/// array elements by index (`layers.0.weight`), so a PyTorch `state_dict` of
/// the same architecture loads without renaming. A property can be renamed in
/// the state dict with ``parameterKeys``.
open class Module: CustomStringConvertible, @unchecked Sendable {
    public init() {}

    /// Runs the module. Override it.
    open func forward(_ x: NDArray) throws -> NDArray {
        throw RuntimeError(.invalidArgument, "\(typeName) does not implement forward(_:)")
    }

    public func callAsFunction(_ x: NDArray) throws -> NDArray { try forward(x) }

    /// State-dict names for properties whose Swift name differs (property → key).
    open var parameterKeys: [String: String] { [:] }

    /// Extra text shown in ``description`` (like PyTorch's `extra_repr`).
    open var extraDescription: String { "" }

    var typeName: String { String(describing: type(of: self)) }

    /// The direct children in declaration order: (name, module).
    public var children: [(String, Module)] {
        entries().compactMap { name, value in (value as? Module).map { (name, $0) } }
    }

    /// Stored properties of this object and its superclasses, with renames applied,
    /// flattening arrays of modules into indexed names.
    func entries() -> [(String, Any)] {
        var result: [(String, Any)] = []
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let current = mirror { mirrors.insert(current, at: 0); mirror = current.superclassMirror }
        let renames = parameterKeys
        for mirror in mirrors {
            for child in mirror.children {
                guard let label = child.label else { continue }
                let name = renames[label] ?? label
                if let modules = child.value as? [Module] {
                    for (index, module) in modules.enumerated() { result.append(("\(name).\(index)", module)) }
                } else if child.value is Module || child.value is Parameter || child.value is Buffer {
                    result.append((name, child.value))
                } else if let parameters = child.value as? [Parameter] {
                    for (index, parameter) in parameters.enumerated() { result.append(("\(name).\(index)", parameter)) }
                }
            }
        }
        return result
    }

    /// Every parameter and buffer with its state-dict key, depth first in declaration order.
    public func namedTensors(prefix: String = "") -> [(String, AnyTensorSlot)] {
        var result: [(String, AnyTensorSlot)] = []
        for (name, value) in entries() {
            let key = prefix.isEmpty ? name : prefix + "." + name
            switch value {
            case let parameter as Parameter: result.append((key, .parameter(parameter)))
            case let buffer as Buffer: result.append((key, .buffer(buffer)))
            case let module as Module: result += module.namedTensors(prefix: key)
            default: break
            }
        }
        return result
    }

    /// Every parameter with its key (shared parameters appear under each key).
    public func namedParameters() -> [(String, Parameter)] {
        namedTensors().compactMap { key, slot in
            if case .parameter(let p) = slot { return (key, p) }
            return nil
        }
    }

    /// The parameters and buffers as a state dict, copied to the host. Keys that
    /// share one Parameter are tied in the result (and in a saved file).
    public func stateDict() throws -> StateDict {
        var sd = StateDict()
        var seen: [ObjectIdentifier: Tensor] = [:]
        for (key, slot) in namedTensors() {
            let id = slot.identity
            if let tensor = seen[id] { sd[key] = tensor; continue }
            let tensor = try slot.value.tensor()
            seen[id] = tensor
            sd[key] = tensor
        }
        return sd
    }

    /// Copies `stateDict`'s tensors into this module's parameters and buffers,
    /// converting float16/bfloat16/float64 to each parameter's dtype and placing
    /// them on its device.
    ///
    /// - Returns: the keys the module has but `stateDict` lacks, and the keys
    ///   `stateDict` has but the module lacks.
    /// - Throws: ``RuntimeError`` (`loadStateDict`) on any shape mismatch, and, when
    ///   `strict`, on any missing or unexpected key, with PyTorch's wording.
    @discardableResult
    public func loadStateDict(_ stateDict: StateDict, strict: Bool = true) throws -> (missing: [String], unexpected: [String]) {
        let slots = namedTensors()
        let known = Set(slots.map(\.0))
        let missing = slots.map(\.0).filter { stateDict[$0] == nil }
        let unexpected = stateDict.keys.filter { !known.contains($0) }
        var errors: [String] = []
        if strict {
            if !missing.isEmpty { errors.append("Missing key(s) in state_dict: \(missing.map { "\"\($0)\"" }.joined(separator: ", ")).") }
            if !unexpected.isEmpty { errors.append("Unexpected key(s) in state_dict: \(unexpected.map { "\"\($0)\"" }.joined(separator: ", ")).") }
        }
        var updates: [(AnyTensorSlot, NDArray)] = []
        for (key, slot) in slots {
            guard let tensor = stateDict[key] else { continue }
            let current = slot.value
            guard tensor.shape == current.shape else {
                errors.append("size mismatch for \(key): copying a param with shape \(tensor.shape) from checkpoint, the shape in current model is \(current.shape).")
                continue
            }
            guard tensor.dtype.isFloatingPoint || tensor.dtype == current.dtype else {
                errors.append("dtype mismatch for \(key): checkpoint has \(tensor.dtype), the model has \(current.dtype).")
                continue
            }
            updates.append((slot, try NDArray(try tensor.converted(to: current.dtype), on: current.device)))
        }
        if !errors.isEmpty {
            throw RuntimeError(.loadStateDict, "Error(s) in loading state_dict for \(typeName):\n\t" + errors.joined(separator: "\n\t"))
        }
        for (slot, value) in updates { slot.value = value }
        return (missing, unexpected)
    }

    /// Moves every parameter and buffer to `device` and returns this module.
    @discardableResult
    public func to(_ device: Device) throws -> Self {
        for (_, slot) in namedTensors() { slot.value = try slot.value.to(device) }
        return self
    }

    /// Like PyTorch's printout: the type, then each child indented.
    public var description: String {
        let kids = children
        if kids.isEmpty { return "\(typeName)(\(extraDescription))" }
        var lines = ["\(typeName)(" + extraDescription]
        for (name, child) in kids {
            let text = child.description.split(separator: "\n", omittingEmptySubsequences: false)
                .enumerated().map { $0.offset == 0 ? String($0.element) : "  " + $0.element }.joined(separator: "\n")
            lines.append("  (\(name)): \(text)")
        }
        lines.append(")")
        return lines.joined(separator: "\n")
    }
}

/// A parameter or buffer slot of a module, for state-dict code.
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

    var identity: ObjectIdentifier {
        switch self {
        case .parameter(let p): ObjectIdentifier(p)
        case .buffer(let b): ObjectIdentifier(b)
        }
    }
}
