import Foundation

/// A JSON value of a fixture manifest. Integers are kept exact (a metadata
/// int64 must not pass through `Double`).
public enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public var string: String? { if case .string(let v) = self { v } else { nil } }
    public var bool: Bool? { if case .bool(let v) = self { v } else { nil } }
    public var int: Int64? { if case .int(let v) = self { v } else { nil } }
    /// An int or a double, as a double.
    public var double: Double? {
        switch self {
        case .double(let v): v
        case .int(let v): Double(v)
        default: nil
        }
    }
    public var array: [JSONValue]? { if case .array(let v) = self { v } else { nil } }
    public var object: [String: JSONValue]? { if case .object(let v) = self { v } else { nil } }
}

/// One tensor a fixture must hold.
public struct ManifestTensor: Sendable, Decodable {
    public let key: String
    public let dtype: String
    public let shape: [Int]
    /// The tensor's bytes, as the writing tool laid them out, in hex.
    public let hex: String
    public let tied_to: String?
    public let metadata: [String: JSONValue]?

    /// ``hex`` as bytes.
    public var bytes: [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }
}

/// One file of a fixture manifest: what it holds, or which error it must raise.
public struct ManifestRecord: Sendable, Decodable {
    public let path: String
    public let format: String?
    public let valid: Bool
    public let kind: String?
    public let tensors: [ManifestTensor]?
    public let metadata: [String: JSONValue]?
    /// The metadata listed is a subset of what the reader finds.
    public let metadata_subset: Bool?
    public let notes_contain: [String]?
    /// The error code an invalid file raises, and text its message contains.
    public let error: String?
    public let message_contains: String?
    /// When the error is raised: `open`, `load`, or never (only `verify` finds it).
    public let stage: String?
    /// For a `verify`-stage file, the error a load raises instead (a load reads
    /// at the index's offset and finds bytes that fail the checksum); nil: it loads.
    public let load_error: String?
    /// A raw file's layout: `dtype`, `shape` (comma-separated), `byte_order`.
    public let raw: [String: String]?
}

/// A fixture manifest (`Fixtures/*/manifest.json`), decoded once.
public struct FixtureManifest: Sendable, Decodable {
    public let files: [ManifestRecord]

    /// The manifest at `Fixtures/RELATIVE`; empty when it is missing or malformed
    /// (the tests that count its records then fail).
    public static func load(_ relative: String) -> FixtureManifest {
        guard let data = FileManager.default.contents(atPath: fixturePath(relative)),
              let manifest = try? JSONDecoder().decode(FixtureManifest.self, from: data) else { return FixtureManifest(files: []) }
        return manifest
    }

    /// The record of `path`.
    public func record(_ path: String) -> ManifestRecord? { files.first { $0.path == path } }
}

/// Fixtures/interchange/manifest.json: files written by PyTorch, NumPy, safetensors, h5py, and hostile ones.
public let interchangeManifest = FixtureManifest.load("interchange/manifest.json")
/// Fixtures/format/manifest.json: valid and invalid Sheaf files written by h5py.
public let formatManifest = FixtureManifest.load("format/manifest.json")
