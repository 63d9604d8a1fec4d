/// The canonical byte encoding of metadata that its checksum covers
/// (Spec/FORMAT.md §10): for each name in UTF-8 byte order, the name's length
/// (u32) and bytes, a type tag (u8), then the value, all little-endian:
/// string = u32 length + UTF-8; int = i64; float = f64 bits; bool = u8 0/1;
/// a list = u32 count + its elements encoded as the scalar type.
/// Tags: 1 string, 2 int, 3 float, 4 bool, 17-20 lists of the same.
public enum MetadataDigest {
    public static func encode(_ metadata: Metadata) -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian) { out += $0 } }
        func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func f64(_ v: Double) { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        func string(_ s: String) { u32(s.utf8.count); out += Array(s.utf8) }
        for name in metadata.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            string(name)
            switch metadata[name]! {
            case .string(let v): out.append(1); string(v)
            case .int(let v): out.append(2); i64(v)
            case .float(let v): out.append(3); f64(v)
            case .bool(let v): out.append(4); out.append(v ? 1 : 0)
            case .strings(let v): out.append(17); u32(v.count); v.forEach(string)
            case .ints(let v): out.append(18); u32(v.count); v.forEach(i64)
            case .floats(let v): out.append(19); u32(v.count); v.forEach(f64)
            case .bools(let v): out.append(20); u32(v.count); v.forEach { out.append($0 ? 1 : 0) }
            }
        }
        return out
    }

    /// The checksum of `metadata` as the index writes it.
    public static func checksum(_ metadata: Metadata, _ algorithm: ChecksumAlgorithm) -> String {
        let bytes = encode(metadata)
        return algorithm.format(bytes.withUnsafeBytes { algorithm.digest($0) })
    }
}
