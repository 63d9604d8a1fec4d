import Sheaf

/// The comparison of two files key by key.
public struct DiffReport: Sendable {
    public struct Difference: Sendable {
        public var key: String
        /// Largest |a - b| over the elements (complex: per part).
        public var maxAbsolute: Double
        /// Largest |a - b| / |b| over elements where b ≠ 0.
        public var maxRelative: Double
        /// Elements outside `atol + rtol·|b|`, NaN matching NaN.
        public var mismatched: Int
        public var count: Int
    }
    public var onlyInFirst: [String] = []
    public var onlyInSecond: [String] = []
    /// Keys whose dtype or shape differ, with the reason.
    public var incompatible: [(key: String, reason: String)] = []
    public var compared: [Difference] = []
    public var metadataDifferences: [String] = []

    /// Whether the files hold the same keys with values equal within tolerance.
    public var equal: Bool {
        onlyInFirst.isEmpty && onlyInSecond.isEmpty && incompatible.isEmpty && compared.allSatisfy { $0.mismatched == 0 }
    }
}

/// Compares tensors of two files of any readable format.
public enum Differ {
    /// Compares `a` with `b` (as `numpy.allclose(a, b, rtol, atol)` per element,
    /// NaNs equal to NaNs), one tensor pair in memory at a time.
    public static func diff(_ a: any TensorSource, _ b: any TensorSource, rtol: Double = 0, atol: Double = 0) throws(SheafError) -> DiffReport {
        var report = DiffReport()
        let keysB = Dictionary(b.entries.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { x, _ in x })
        let keysA = Set(a.entries.map(\.key))
        report.onlyInSecond = b.entries.map(\.key).filter { !keysA.contains($0) }
        for (indexA, entry) in a.entries.enumerated() {
            guard let indexB = keysB[entry.key] else { report.onlyInFirst.append(entry.key); continue }
            let other = b.entries[indexB]
            guard entry.shape == other.shape else {
                report.incompatible.append((entry.key, "shape \(entry.shape) vs \(other.shape)"))
                continue
            }
            guard entry.dtype == other.dtype else {
                report.incompatible.append((entry.key, "dtype \(entry.dtype) vs \(other.dtype)"))
                continue
            }
            let x = try a.tensor(at: indexA), y = try b.tensor(at: indexB)
            report.compared.append(compare(entry.key, x, y, rtol: rtol, atol: atol))
        }
        for name in Set(a.metadata.keys).union(b.metadata.keys).sorted() where a.metadata[name] != b.metadata[name] {
            report.metadataDifferences.append("\(name): \(a.metadata[name]?.abbreviated ?? "absent") vs \(b.metadata[name]?.abbreviated ?? "absent")")
        }
        return report
    }

    static func compare(_ key: String, _ x: Tensor, _ y: Tensor, rtol: Double, atol: Double) -> DiffReport.Difference {
        let n = x.dtype.isComplex ? x.count * 2 : x.count
        var result = DiffReport.Difference(key: key, maxAbsolute: 0, maxRelative: 0, mismatched: 0, count: x.count)
        if x.bitwiseEqual(y) { return result }
        if x.dtype.isInteger && x.dtype.itemSize == 8 {
            // 64-bit integers compare exactly (Double would round).
            x.withUnsafeBytes { a in
                y.withUnsafeBytes { b in
                    for i in 0..<n {
                        let u = a.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                        let v = b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                        if u != v {
                            let d = x.dtype == .int64 ? Double(Int64(bitPattern: u)) - Double(Int64(bitPattern: v)) : Double(u) - Double(v)
                            result.maxAbsolute = max(result.maxAbsolute, abs(d))
                            if abs(d) > atol { result.mismatched += 1 }
                        }
                    }
                }
            }
            return result
        }
        let readX = Tensor.elementReader(x.dtype), readY = Tensor.elementReader(y.dtype)
        x.withUnsafeBytes { a in
            y.withUnsafeBytes { b in
                for i in 0..<n {
                    let u = readX(a, i), v = readY(b, i)
                    if u.isNaN || v.isNaN {
                        if !(u.isNaN && v.isNaN) { result.mismatched += 1; result.maxAbsolute = .nan }
                        continue
                    }
                    if u == v { continue }
                    let d = abs(u - v)
                    if !d.isNaN { result.maxAbsolute = max(result.maxAbsolute, d) } else { result.maxAbsolute = .infinity }
                    if v != 0 { result.maxRelative = max(result.maxRelative, d / abs(v)) }
                    if !(d <= atol + rtol * abs(v)) { result.mismatched += 1 }
                }
            }
        }
        return result
    }
}
