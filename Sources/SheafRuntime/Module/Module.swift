import Sheaf

/// The base class of layers and models, like PyTorch's `nn.Module`.
///
/// Subclasses declare their parameters (``Parameter``), buffers (``Buffer``)
/// and sub-modules as stored properties and override ``forward(_:)``. The
/// state dict names them the way PyTorch does: property names joined with `.`,
/// array elements by index (`layers.0.weight`, PyTorch's `ModuleList`),
/// `[String: Module]` entries by key (`ModuleDict`), so a PyTorch `state_dict`
/// of the same architecture loads without renaming. A property whose state-dict
/// name differs from its Swift name declares it with ``ModuleInfo``.
///
/// `Module` is a plain, non-`Sendable` class (as in mlx-swift): a model is
/// mutable state used from one task at a time, and a subclass needs no
/// annotations. To use a model from several tasks, give each its own copy or
/// confine it to an actor; the arrays it computes are `Sendable`.
open class Module: CustomStringConvertible {
    public init() {}

    /// Runs the module. Override it.
    open func forward(_ x: NDArray) throws -> NDArray {
        throw RuntimeError(.invalidArgument, "\(typeName) does not implement forward(_:)")
    }

    public func callAsFunction(_ x: NDArray) throws -> NDArray { try forward(x) }

    /// Extra text shown in ``description`` (like PyTorch's `extra_repr`).
    open var extraDescription: String { "" }

    var typeName: String { String(describing: type(of: self)) }

    /// The direct members with their state-dict names. ``Sequential`` overrides it.
    func members() throws -> [(String, Member)] { try Discovery.members(of: self) }

    /// The direct child modules in declaration order: (name, module).
    public func children() throws -> [(String, Module)] {
        try members().compactMap { name, member in
            if case .module(let module) = member { return (name, module) }
            return nil
        }
    }

    /// Every parameter and buffer with its state-dict key, depth first in
    /// declaration order, non-persistent buffers included.
    /// - Throws: ``RuntimeError`` (`unregisteredProperty`) naming a property that
    ///   holds arrays or modules in a way the state dict cannot name.
    public func namedTensors(prefix: String = "") throws -> [(String, AnyTensorSlot)] {
        var result: [(String, AnyTensorSlot)] = []
        for (name, member) in try members() {
            let key = prefix.isEmpty ? name : prefix + "." + name
            switch member {
            case .slot(let slot): result.append((key, slot))
            case .module(let module): result += try module.namedTensors(prefix: key)
            }
        }
        return result
    }

    /// Every parameter with its key (a shared parameter appears under each key).
    public func namedParameters() throws -> [(String, Parameter)] {
        try namedTensors().compactMap { key, slot in
            if case .parameter(let p) = slot { return (key, p) }
            return nil
        }
    }

    /// The parameters and persistent buffers as a state dict, copied to the host.
    /// Keys that share one Parameter are tied in the result (and in a saved file).
    public func stateDict() throws -> StateDict {
        var sd = StateDict()
        var seen: [ObjectIdentifier: Tensor] = [:]
        for (key, slot) in try namedTensors() where slot.persistent {
            let id = slot.identity
            if let tensor = seen[id] { sd[key] = tensor; continue }
            let tensor = try slot.value.tensor()
            seen[id] = tensor
            sd[key] = tensor
        }
        return sd
    }

    /// Copies `stateDict`'s tensors into this module's parameters and buffers,
    /// converting float16/bfloat16/float64 to each parameter's dtype (once, here)
    /// and placing them on its device.
    ///
    /// A parameter shared under several keys (tied weights, like GPT-2's
    /// `lm_head.weight` and `transformer.wte.weight`) is loaded when any of its
    /// keys is present, as checkpoints saved without the duplicate have it.
    ///
    /// - Returns: the keys the module has but `stateDict` lacks, and the keys
    ///   `stateDict` has but the module lacks.
    /// - Throws: ``RuntimeError`` (`loadStateDict`) on any shape mismatch, and, when
    ///   `strict`, on any missing or unexpected key, with PyTorch's wording.
    @discardableResult
    public func loadStateDict(_ stateDict: StateDict, strict: Bool = true) throws -> (missing: [String], unexpected: [String]) {
        var plan = try planLoad(keys: stateDict.keys, strict: strict, describe: { key in
            stateDict[key].map { ($0.shape, $0.dtype) }
        }, sameValues: { first, second in
            guard let a = stateDict[first], let b = stateDict[second] else { return false }
            return a.sharesStorage(with: b) || a.bitwiseEqual(b)
        })
        var updates: [(AnyTensorSlot, NDArray)] = []
        for (key, slot) in plan.loads {
            guard let tensor = stateDict[key] else { continue }
            let current = slot.value
            do {
                updates.append((slot, try NDArray(try tensor.converted(to: current.dtype), on: current.device)))
            } catch let error as SheafError {
                plan.errors.append("cannot convert \(key) from \(tensor.dtype) to \(current.dtype): \(error.description)")
            }
        }
        try plan.throwIfFailed(typeName)
        for (slot, value) in updates { slot.value = value }
        return (plan.missing, plan.unexpected)
    }

    /// What a load changes: each slot given by a key (a tied slot once), the
    /// keys missing and unexpected, and every problem found (PyTorch's wording).
    struct LoadPlan {
        var loads: [(key: String, slot: AnyTensorSlot)] = []
        var missing: [String] = []
        var unexpected: [String] = []
        var errors: [String] = []

        func throwIfFailed(_ typeName: String) throws {
            guard !errors.isEmpty else { return }
            throw RuntimeError(.loadStateDict, "Error(s) in loading state_dict for \(typeName):\n\t" + errors.joined(separator: "\n\t"))
        }
    }

    /// Matches the persistent slots with `keys`: shapes must agree, a
    /// floating-point source converts to the slot's dtype and any other must
    /// match it, and a tied slot given under several keys must be given the
    /// same values (`sameValues`).
    func planLoad(keys: [String], strict: Bool, describe: (String) -> (shape: [Int], dtype: DType)?,
                  sameValues: (String, String) -> Bool) throws -> LoadPlan {
        let slots = try namedTensors().filter { $0.1.persistent }
        let known = Set(slots.map(\.0))
        var plan = LoadPlan()
        let present = Set(slots.filter { describe($0.0) != nil }.map { $0.1.identity })
        plan.missing = slots.filter { describe($0.0) == nil && !present.contains($0.1.identity) }.map(\.0)
        plan.unexpected = keys.filter { !known.contains($0) }
        if strict {
            if !plan.missing.isEmpty { plan.errors.append("Missing key(s) in state_dict: \(plan.missing.map { "\"\($0)\"" }.joined(separator: ", ")).") }
            if !plan.unexpected.isEmpty { plan.errors.append("Unexpected key(s) in state_dict: \(plan.unexpected.map { "\"\($0)\"" }.joined(separator: ", ")).") }
        }
        var loaded: [ObjectIdentifier: String] = [:]
        for (key, slot) in slots {
            guard let (shape, dtype) = describe(key) else { continue }
            let current = slot.value
            guard shape == current.shape else {
                plan.errors.append("size mismatch for \(key): copying a param with shape \(shape) from checkpoint, the shape in current model is \(current.shape).")
                continue
            }
            guard dtype.isFloatingPoint || dtype == current.dtype else {
                plan.errors.append("dtype mismatch for \(key): checkpoint has \(dtype), the model has \(current.dtype).")
                continue
            }
            if let first = loaded[slot.identity] {
                if !sameValues(first, key) { plan.errors.append("tied parameters \(first) and \(key) differ in the checkpoint.") }
                continue
            }
            loaded[slot.identity] = key
            plan.loads.append((key, slot))
        }
        return plan
    }

    /// Moves every parameter and buffer to `device` and returns this module.
    /// A shared parameter moves once.
    @discardableResult
    public func to(_ device: Device) throws -> Self {
        var moved = Set<ObjectIdentifier>()
        for (_, slot) in try namedTensors() where moved.insert(slot.identity).inserted {
            slot.value = try slot.value.to(device)
        }
        return self
    }

    /// Like PyTorch's printout: the type, then each child indented.
    public var description: String {
        let kids = (try? children()) ?? []
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
