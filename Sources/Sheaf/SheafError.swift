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

    public init(_ code: Code, file: String? = nil, key: String? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.key = key
        self.message = message
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
        switch error.refusal {
        case .outsideFile?: SheafError(.unsupported, file: file, key: key, error.description)
        case .limit?: SheafError(.limitExceeded, file: file, key: key, error.description)
        case .malformed?: SheafError(.invalidFile, file: file, key: key, error.description)
        case nil: SheafError(.hdf5, file: file, key: key, "HDF5 \(error.description)")
        }
    }

    /// A copy with `file` and `key` filled in where they are missing.
    public func with(file: String?, key: String? = nil) -> SheafError {
        var copy = self
        if copy.file == nil { copy.file = file }
        if copy.key == nil { copy.key = key }
        return copy
    }
}

/// Runs `body`, turning HDF5 errors into ``SheafError``s about `file`.
@inline(__always)
package func hdf5<R: ~Copyable>(_ file: String?, key: String? = nil, _ body: () throws(HDF5Error) -> R) throws(SheafError) -> R {
    do { return try body() } catch { throw SheafError.hdf5(error, file: file, key: key) }
}
