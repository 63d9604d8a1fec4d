import Foundation
import Sheaf

/// The safetensors format: an 8-byte little-endian header length, a JSON
/// header, then the data.
public enum SafetensorsFormat {
    /// safetensors' own cap on the header.
    public static let maxHeaderBytes = 100_000_000

    static let names: [(String, DType)] = [
        ("BOOL", .bool), ("U8", .uint8), ("I8", .int8), ("U16", .uint16), ("I16", .int16), ("F16", .float16),
        ("BF16", .bfloat16), ("U32", .uint32), ("I32", .int32), ("F32", .float32), ("U64", .uint64), ("I64", .int64),
        ("F64", .float64), ("C64", .complex64), ("F8_E4M3", .float8_e4m3fn), ("F8_E5M2", .float8_e5m2),
    ]

    static func dtype(named name: String) -> DType? { names.first { $0.0 == name }?.1 }
    static func name(of dtype: DType) -> String? { names.first { $0.1 == dtype }?.0 }

    /// Whether `prefix` (the first bytes of a file of `size` bytes) looks like safetensors.
    static func looksLikeSafetensors(_ prefix: [UInt8], size: Int) -> Bool {
        guard prefix.count >= 9 else { return false }
        var length = 0
        for i in 0..<8 { length |= Int(prefix[i]) << (8 * i) }
        // The length is checked by the reader, which says what is wrong with it.
        return length > 1 && prefix[8] == UInt8(ascii: "{")
    }
}
