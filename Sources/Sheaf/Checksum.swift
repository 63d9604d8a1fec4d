import CXXHash
import CZlib

/// The checksum algorithms a Sheaf file may name in its `sheaf_checksum` attribute.
public enum ChecksumAlgorithm: String, Sendable, CaseIterable, Codable {
    /// XXH3, 64-bit, seed 0 (xxHash 0.8): what this library writes. Many GB/s.
    case xxh3_64 = "xxh3-64"
    /// CRC-32 as zlib computes it, for writers that have only a standard library
    /// (Python's `zlib.crc32`).
    case crc32

    /// The checksum of `bytes`.
    /// - Complexity: O(n), memory-bandwidth bound for xxh3-64.
    public func digest(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        switch self {
        case .xxh3_64:
            return UInt64(XXH3_64bits(bytes.baseAddress, bytes.count))
        case .crc32:
            var crc: UInt = 0
            var offset = 0
            while offset < bytes.count {
                let chunk = min(bytes.count - offset, 1 << 30)
                crc = CZlib.crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: UInt8.self), UInt32(chunk))
                offset += chunk
            }
            return UInt64(crc)
        }
    }

    /// The checksum as the index writes it: lowercase hex, 16 digits for
    /// xxh3-64, 8 for crc32.
    public func format(_ value: UInt64) -> String {
        let hex = String(value, radix: 16)
        let width = self == .crc32 ? 8 : 16
        return String(repeating: "0", count: max(0, width - hex.count)) + hex
    }

    /// Parses a checksum written by ``format(_:)``.
    public func parse(_ text: String) -> UInt64? {
        let width = self == .crc32 ? 8 : 16
        guard text.utf8.count == width, text.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            return nil
        }
        return UInt64(text, radix: 16)
    }
}
