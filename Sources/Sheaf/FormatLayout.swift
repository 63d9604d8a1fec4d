import Glibc

/// The names and rules of the on-disk layout (Spec/FORMAT.md, "Layout").
public enum FormatLayout {
    /// Root attribute naming the format; its value is ``formatName``.
    public static let formatAttribute = "sheaf_format"
    public static let formatName = "sheaf"
    /// Root attribute with the format version, `"MAJOR.MINOR"`.
    public static let versionAttribute = "sheaf_version"
    /// Root attribute with the kind: `tensor`, `list` or `dict`.
    public static let kindAttribute = "sheaf_kind"
    /// Root attribute naming the checksum algorithm.
    public static let checksumAttribute = "sheaf_checksum"
    /// Dataset attribute with the tensor's dtype name.
    public static let dtypeAttribute = "sheaf_dtype"
    /// Attribute names starting with this are reserved for the format.
    public static let reservedPrefix = "sheaf_"
    /// The group holding one dataset (or hard link) per key.
    public static let tensorsGroup = "tensors"
    /// The dataset holding the JSON index.
    public static let indexDataset = "_sheaf_index"
    /// The group of the binary index (§8.2, version 1.5): the index as fixed
    /// records, read at open instead of the JSON when present.
    public static let binaryIndexGroup = "_sheaf_binary_index"
    /// The group of packed small tensors (§18): arenas `0`, `1`, …, and
    /// ``packedReferences`` and ``packedKeys``.
    public static let packedGroup = "_sheaf_packed"
    /// In ``packedGroup``: one region reference per packed key, in index order.
    public static let packedReferences = "refs"
    /// In ``packedGroup``: the packed keys, in index order (fixed-length UTF-8).
    public static let packedKeys = "keys"

    public static let majorVersion = 1
    public static let minorVersion = 0
    public static var version: String { "\(majorVersion).\(minorVersion)" }
    /// The version a file with a checkpoint structure (§8.1) declares.
    public static let structureVersion = "1.1"
    /// The version a file with block checksums (§9.1) declares.
    public static let blockChecksumVersion = "1.2"
    /// The version a file with packed small tensors (§18) declares.
    public static let packedVersion = "1.4"
    /// The version a file with a binary index (§8.2) declares.
    public static let binaryIndexVersion = "1.5"

    /// Raw data of contiguous datasets starts at a multiple of this.
    public static let alignment = 64
    /// The largest index a reader accepts.
    public static let maxIndexBytes = 512 << 20
    /// The most tensors a reader accepts in one file.
    public static let maxTensors = 10_000_000

    /// Refuses a key §3 does not allow: empty, or with a NUL.
    /// - Complexity: O(key length), no allocation.
    public static func checkKey(_ key: String) throws(SheafError) {
        var bytes = key
        if let problem = bytes.withUTF8(keyProblem) { throw SheafError(.invalidKey, key: key, problem) }
    }

    /// Why a key's UTF-8 bytes are not a key §3 allows, or nil.
    static func keyProblem(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard let start = bytes.baseAddress, !bytes.isEmpty else { return "empty keys are not allowed" }
        return memchr(start, 0, bytes.count) == nil ? nil : "keys must not contain NUL bytes"
    }

    /// The HDF5 link name for `key`: `%` becomes `%25`, `/` becomes `%2F`, and
    /// the key `.` becomes `%2E`. Empty keys and keys with NUL are refused.
    public static func linkName(for key: String) throws(SheafError) -> String {
        try checkKey(key)
        if key == "." { return "%2E" }
        if !key.utf8.contains(where: { $0 == 0x25 || $0 == 0x2F }) { return key }
        var name = ""
        for character in key.unicodeScalars {
            switch character {
            case "%": name += "%25"
            case "/": name += "%2F"
            default: name.unicodeScalars.append(character)
            }
        }
        return name
    }
}

/// The kinds of content a Sheaf file holds.
public enum SheafKind: String, Sendable, Codable, CaseIterable {
    /// One tensor, under the key `"0"`.
    case tensor
    /// An ordered list of tensors, under the keys `"0"`, `"1"`, ….
    case list
    /// An ordered state dict.
    case dict
}

/// How a tensor's data is stored in the file.
public enum StorageKind: String, Sendable, Codable {
    case contiguous
    /// Chunked, shuffle then deflate.
    case deflate
    /// Back to back with other small tensors of its dtype in one arena dataset
    /// of `/_sheaf_packed` (Spec §18, version 1.4); its bytes are at the index's offset.
    case packed
}

/// Where a packed tensor (Spec §18) lies: arena `/_sheaf_packed/<arena>`,
/// from element `start` on.
public struct PackedPlacement: Sendable, Equatable, Hashable {
    /// The arena's name in `/_sheaf_packed`, as a number.
    public var arena: Int
    /// The index of the tensor's first element in the arena.
    public var start: Int

    public init(arena: Int, start: Int) {
        self.arena = arena
        self.start = start
    }
}
