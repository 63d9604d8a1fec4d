/// A failure in the runtime: wrong devices, shapes or dtypes, a CUDA error,
/// or a state dict that does not fit a module.
public struct RuntimeError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable, Equatable {
        case deviceMismatch, deviceUnavailable, shapeMismatch, dtypeUnsupported, cuda, loadStateDict, invalidArgument
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) { self.code = code; self.message = message }
    public var description: String { message }

    static func cuda(_ error: CUDAError) -> RuntimeError { RuntimeError(.cuda, error.description) }
}
