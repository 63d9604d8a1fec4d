import Foundation
extension Tensor: CustomStringConvertible {
    /// Prints like PyTorch: `tensor([0, 1, 2, 3])`, with the dtype where it is not
    /// the default for the values.
    public var description: String {
        let limit = 1000
        var text = ""
        if dtype.isComplex {
            let read = Self.doubleReader(dtype)
            let parts = (0..<min(count, limit)).map { i in
                "\(Self.format(read(storage.bytes, 2 * i)))+\(Self.format(read(storage.bytes, 2 * i + 1)))j"
            }
            text = nest(parts)
        } else {
            let read = Self.doubleReader(dtype)
            let shown = (0..<min(count, limit)).map { read(storage.bytes, $0) }
            let finite = shown.filter { $0.isFinite }
            let integral = finite.allSatisfy { $0 == $0.rounded() && abs($0) < 1e15 }
            let largest = finite.map(abs).max() ?? 0
            let smallest = finite.filter { $0 != 0 }.map(abs).min() ?? 1
            let scientific = largest >= 1e8 || smallest < 1e-4
            let parts: [String] = (0..<min(count, limit)).map { i in
                let v = read(storage.bytes, i)
                switch dtype {
                case .bool: return v != 0 ? "True" : "False"
                case .int64, .uint64:
                    let (value, big) = Self.integerReader(dtype)(storage.bytes, i)
                    return big.map { "\($0)" } ?? "\(value)"
                case _ where dtype.isInteger: return "\(Int64(v))"
                default:
                    if !v.isFinite || integral { return Self.format(v) }
                    return scientific ? String(format4: v) : String(format: "%.4f", v)
                }
            }
            text = nest(parts)
        }
        let defaultDType = dtype == .float32 || dtype == .int64 || dtype == .bool
        return "tensor(\(text)\(defaultDType ? "" : ", dtype=\(dtype)"))"
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        if v == v.rounded() && abs(v) < 1e15 { return "\(Int64(v))." }
        return String(format4: v)
    }

    private func nest(_ flat: [String]) -> String {
        if shape.isEmpty { return flat.first ?? "" }
        if flat.count < count { return "[" + flat.joined(separator: ", ") + ", ...]" }
        func build(_ dim: Int, _ start: Int) -> (String, Int) {
            if dim == shape.count - 1 {
                let end = start + shape[dim]
                return ("[" + flat[start..<end].joined(separator: ", ") + "]", end)
            }
            var position = start
            var rows: [String] = []
            for _ in 0..<shape[dim] {
                let (row, next) = build(dim + 1, position)
                rows.append(row)
                position = next
            }
            return ("[" + rows.joined(separator: ",\n" + String(repeating: " ", count: 8 + dim)) + "]", position)
        }
        return build(0, 0).0
    }
}

extension String {
    /// Four significant decimals, like PyTorch's default print precision.
    init(format4 value: Double) {
        let magnitude = abs(value)
        if magnitude != 0 && (magnitude < 1e-4 || magnitude >= 1e8) {
            var exponent = 0
            var mantissa = magnitude
            while mantissa >= 10 { mantissa /= 10; exponent += 1 }
            while mantissa < 1 { mantissa *= 10; exponent -= 1 }
            let scaled = (mantissa * 10000).rounded() / 10000
            self = "\(value < 0 ? "-" : "")\(scaled)e\(exponent >= 0 ? "+" : "-")\(abs(exponent) < 10 ? "0" : "")\(abs(exponent))"
            return
        }
        let scaled = (value * 10000).rounded() / 10000
        self = "\(scaled)"
    }
}
