/// An error reported by libhdf5: the C function that failed, the object it was
/// working on, and HDF5's own error-stack text; or a refusal by this layer's
/// read policy (``Refusal``) before libhdf5 was asked to do the unsafe thing.
package struct HDF5Error: Error, Sendable, CustomStringConvertible, Equatable {
    /// Why this layer refused an object, independent of libhdf5's own errors.
    package enum Refusal: Sendable, Equatable {
        /// The object's data or the link's target lies outside the file being
        /// read (external raw storage, a virtual dataset, an external, soft or
        /// user-defined link): Sheaf reads only data stored inside the file.
        case outsideFile
        /// Reading would exceed one of ``HDF5ReadLimits``.
        case limit
        /// A datatype or structure no conforming writer produces.
        case malformed
    }

    /// The HDF5 C function that failed, for example `H5Dopen2`.
    package var operation: String
    /// The file or object path the call was about.
    package var object: String
    /// HDF5's error stack, innermost first, as one line; for a refusal, the reason.
    package var message: String
    /// Set when this layer refused the object rather than libhdf5 failing.
    package var refusal: Refusal?

    package init(operation: String, object: String, message: String) {
        self.init(operation: operation, object: object, message: message, refusal: nil)
    }

    package init(operation: String, object: String, message: String, refusal: Refusal?) {
        self.operation = operation
        self.object = object
        self.message = message
        self.refusal = refusal
    }

    /// A refusal by the read policy about `object`.
    /// `object` names are `FILE:/path` (groups and datasets) or
    /// `FILE:/path@attribute`; a refusal keeps the part inside the file.
    static func refused(_ refusal: Refusal, _ object: String, _ message: String) -> HDF5Error {
        var inside = object
        let scalars = Array(object.unicodeScalars)
        if let colon = scalars.indices.first(where: { scalars[$0] == ":" && $0 + 1 < scalars.count && scalars[$0 + 1] == "/" }) {
            var path = String.UnicodeScalarView()
            for scalar in scalars[(colon + 1)...] where !(scalar == "/" && path.last == "/") { path.append(scalar) }
            inside = String(path)
        }
        return HDF5Error(operation: "policy", object: inside, message: message, refusal: refusal)
    }

    package var description: String {
        if refusal != nil { return "\(object): \(message)" }
        let detail = message.isEmpty ? "failed" : message
        return "\(operation) on '\(object)': \(detail)"
    }
}
