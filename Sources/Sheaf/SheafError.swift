import Glibc
import SheafHDF5

/// Every failure in Sheaf: what went wrong, in which file, for which key, with
/// the expected and found values spelled out in ``message``.
public struct SheafError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The class of failure; tests and callers switch on it.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        case fileNotFound
        case io
        case notHDF5
        case notSheaf
        case unsupportedVersion
        case unknownKind
        case unknownDType
        case dtypeMismatch
        case shapeMismatch
        case checksumMismatch
        case invalidIndex
        case invalidKey
        case invalidMetadata
        case invalidArgument
        case keyNotFound
        case limitExceeded
        case unsupported
        case hdf5
        case invalidFile
    }

    public var code: Code
    /// The file the failure is about, when there is one.
    public var file: String?
    /// The key (tensor name) the failure is about, when there is one.
    public var key: String?
    /// The reason, naming what was expected and what was found.
    public var message: String
    /// The failure underneath, kept as a value (never only as text), when there is one.
    public var cause: Cause?
    /// The option that would make the operation succeed without losing data, when there is one.
    /// The message says it in library terms; a command line maps it to its own flag.
    public var remedy: Remedy?

    /// A failure of the system or of libhdf5 that a ``SheafError`` wraps.
    public enum Cause: Sendable, Equatable, CustomStringConvertible {
        /// A POSIX call failed with this `errno` value.
        case errno(Int32)
        /// A libhdf5 call failed: the C function, the object, HDF5's error-stack text.
        case hdf5(operation: String, object: String, message: String)

        public var description: String {
            switch self {
            case .errno(let code): String(cString: strerror(code))
            case .hdf5(let operation, let object, let message): "\(operation) on '\(object)': \(message)"
            }
        }
    }

    /// An option of the library that resolves a refusal losslessly.
    public enum Remedy: String, Sendable, Equatable, CaseIterable {
        /// ``ExportOptions``' `widen`: store bfloat16/float8 as exact float32.
        case widen
        /// ``ExportOptions``' `untie`: write each tied key's own copy.
        case untie
        /// `replace: true`: replace an existing output, still atomically.
        case replace
        /// Give the raw input's dtype, shape and byte order.
        case rawLayout
    }

    public init(_ code: Code, file: String? = nil, key: String? = nil, _ message: String,
                cause: Cause? = nil, remedy: Remedy? = nil) {
        self.code = code
        self.file = file
        self.key = key
        self.message = message
        self.cause = cause
        self.remedy = remedy
    }

    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let key { parts.append("key '\(key)'") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }

    /// Wraps an HDF5 failure with the file and key it happened for.
    /// A refusal of the read policy keeps its own code: data outside the file
    /// is `unsupported`, a cap is `limitExceeded`, a forged type `invalidFile`.
    package static func hdf5(_ error: HDF5Error, file: String?, key: String? = nil) -> SheafError {
        let cause = Cause.hdf5(operation: error.operation, object: error.object, message: error.message)
        return switch error.refusal {
        case .outsideFile?: SheafError(.unsupported, file: file, key: key, error.description, cause: cause)
        case .limit?: SheafError(.limitExceeded, file: file, key: key, error.description, cause: cause)
        case .malformed?: SheafError(.invalidFile, file: file, key: key, error.description, cause: cause)
        case nil: SheafError(.hdf5, file: file, key: key, "HDF5 \(error.description)", cause: cause)
        }
    }

    /// A copy with `file` and `key` filled in where they are missing.
    public func with(file: String?, key: String? = nil) -> SheafError {
        var copy = self
        if copy.file == nil { copy.file = file }
        if copy.key == nil { copy.key = key }
        return copy
    }

    /// This error about `file` instead of the file it names (a temporary copy
    /// the user never saw).
    package func replacingFile(with file: String) -> SheafError {
        var copy = self
        copy.file = file
        return copy
    }
}

/// Runs `body`, turning HDF5 errors into ``SheafError``s about `file`.
@inline(__always)
package func hdf5<R: ~Copyable>(_ file: String?, key: String? = nil, _ body: () throws(HDF5Error) -> R) throws(SheafError) -> R {
    do { return try body() } catch { throw SheafError.hdf5(error, file: file, key: key) }
}
