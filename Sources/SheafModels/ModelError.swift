/// A model that cannot be built: an unknown architecture, a configuration
/// that is invalid, or weights that do not fit the configuration.
public struct ModelError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable, Equatable {
        /// `model_type` (or the architecture name) is not one Sheaf knows.
        case unknownArchitecture
        /// The configuration is missing, malformed, or outside the supported range.
        case invalidConfiguration
        /// The weights' shapes or keys disagree with the configuration.
        case configurationMismatch
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) { self.code = code; self.message = message }
    public var description: String { message }
}
