/// A learnable tensor of a ``Module``. A reference, so a layer and the
/// optimiser (or a second layer, for tied weights) can share it.
///
/// Not `Sendable`: a parameter is mutable state owned by its module, used from
/// one task at a time (like mlx-swift's modules). Its value, an ``NDArray``, is
/// immutable and `Sendable`, so a computed result can cross tasks freely.
public final class Parameter {
    /// The current value.
    public var value: NDArray

    public init(_ value: NDArray) { self.value = value }

    public var shape: [Int] { value.shape }
    public var device: Device { value.device }
}

/// A non-learnable tensor of a module: running statistics and the like. Saved
/// in the state dict unless `persistent` is false (PyTorch's
/// `register_buffer(..., persistent=False)`), e.g. a cache computed from the
/// configuration; moved by ``Module/to(_:)`` either way.
public final class Buffer {
    public var value: NDArray
    /// Whether the buffer is part of the state dict.
    public let persistent: Bool

    public init(_ value: NDArray, persistent: Bool = true) {
        self.value = value
        self.persistent = persistent
    }
}

/// Declares a module property's state-dict name where it differs from the
/// Swift name (like mlx-swift's `@ModuleInfo(key:)`):
///
/// ```swift
/// final class Attention: Module {
///     @ModuleInfo(key: "c_attn") var projection: Linear
///     init() {
///         _projection.wrappedValue = Linear(64, 192)   // before super.init()
///         super.init()
///     }
/// }
/// ```
///
/// Set the value through `_name.wrappedValue` before `super.init()`, or by
/// name after it. It works for modules, parameters, buffers, and arrays or
/// dictionaries of them. Reading the property before it is set is a
/// programming error (a precondition failure).
@propertyWrapper
public struct ModuleInfo<Value> {
    private var storage: Value?
    /// The state-dict name; nil keeps the property's name.
    public let key: String?

    public var wrappedValue: Value {
        get {
            guard let storage else { preconditionFailure("a @ModuleInfo property was read before it was set") }
            return storage
        }
        set { storage = newValue }
    }

    public init(wrappedValue: Value, key: String? = nil) {
        storage = wrappedValue
        self.key = key
    }

    /// A property set later in the module's initialiser.
    public init(key: String) {
        storage = nil
        self.key = key
    }
}

/// What discovery needs from a ``ModuleInfo`` without knowing its value type.
protocol StateKeyed {
    var stateKey: String? { get }
    var anyValue: Any? { get }
}

extension ModuleInfo: StateKeyed {
    var stateKey: String? { key }
    var anyValue: Any? { storage }
}
