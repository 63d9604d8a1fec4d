/// A failure in the runtime: wrong devices, shapes or dtypes, a CUDA error,
/// an operation a device lacks, or a state dict that does not fit a module.
public struct RuntimeError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable, Equatable {
        case deviceMismatch, deviceUnavailable, shapeMismatch, dtypeUnsupported, cuda, loadStateDict, invalidArgument
        /// The operation exists, but not on this device.
        case unsupported
        /// A module holds a parameter-like property that the state dict cannot name.
        case unregisteredProperty
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) { self.code = code; self.message = message }
    public var description: String { message }

    static func cuda(_ error: CUDAError) -> RuntimeError { RuntimeError(.cuda, error.description) }
}
