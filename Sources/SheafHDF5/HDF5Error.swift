/// An error reported by libhdf5: the C function that failed, the object it was
/// working on, and HDF5's own error-stack text.
public struct HDF5Error: Error, Sendable, CustomStringConvertible, Equatable {
    /// The HDF5 C function that failed, for example `H5Dopen2`.
    public var operation: String
    /// The file or object path the call was about.
    public var object: String
    /// HDF5's error stack, innermost first, as one line.
    public var message: String

    public init(operation: String, object: String, message: String) {
        self.operation = operation
        self.object = object
        self.message = message
    }

    public var description: String {
        let detail = message.isEmpty ? "failed" : message
        return "\(operation) on '\(object)': \(detail)"
    }
}
