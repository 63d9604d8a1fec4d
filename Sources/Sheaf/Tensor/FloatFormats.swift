/// Bit-level conversions for the floating-point formats Swift has no type for:
/// bfloat16 and the two float8 formats. All encoders round to nearest, ties to even.
public enum FloatFormats {
    /// bfloat16 bits to Float (exact).
    @inline(__always)
    public static func bfloat16ToFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Float to bfloat16 bits, round to nearest even; NaN stays a quiet NaN.
    @inline(__always)
    public static func floatToBFloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x0040) }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    /// A float8 format: its decoding of all 256 codes, and the table the
    /// encoder searches.
    struct Float8Format: Sendable {
        let decode: [Float]
        /// Non-negative finite values in increasing order with their codes, then
        /// one value past the largest with the code it rounds to.
        let ladder: [(value: Float, code: UInt8)]
        let nanCode: UInt8

        init(exponentBits: Int, mantissaBits: Int, bias: Int, hasInfinity: Bool) {
            var decode = [Float](repeating: 0, count: 256)
            let maxExponent = (1 << exponentBits) - 1
            let mantissaScale = Float(1 << mantissaBits)
            for code in 0..<256 {
                let sign: Float = code & 0x80 != 0 ? -1 : 1
                let exponent = (code >> mantissaBits) & maxExponent
                let mantissa = code & ((1 << mantissaBits) - 1)
                var value: Float
                if exponent == maxExponent && hasInfinity {
                    value = mantissa == 0 ? .infinity : .nan
                } else if exponent == maxExponent && !hasInfinity && mantissa == (1 << mantissaBits) - 1 {
                    value = .nan
                } else if exponent == 0 {
                    value = Float(mantissa) / mantissaScale * Float(sign: .plus, exponent: 1 - bias, significand: 1)
                } else {
                    value = (1 + Float(mantissa) / mantissaScale) * Float(sign: .plus, exponent: exponent - bias, significand: 1)
                }
                decode[code] = sign * value
            }
            self.decode = decode
            var ladder: [(Float, UInt8)] = []
            for code in 0..<128 where decode[code].isFinite {
                ladder.append((decode[code], UInt8(code)))
            }
            // The value one step past the largest finite one: an infinity code
            // where the format has one, else the NaN code (values beyond round to NaN).
            let top = ladder[ladder.count - 1]
            let step = top.0 - ladder[ladder.count - 2].0
            ladder.append((top.0 + step, top.1 + 1))
            self.ladder = ladder
            self.nanCode = hasInfinity ? 0x7F : 0x7F
        }

        func encode(_ value: Float) -> UInt8 {
            if value.isNaN { return nanCode }
            let sign: UInt8 = value.sign == .minus ? 0x80 : 0
            let magnitude = value.magnitude
            let last = ladder[ladder.count - 1]
            if magnitude >= last.value { return last.code | sign }
            // First ladder entry not below the magnitude.
            var low = 0, high = ladder.count - 1
            while low < high {
                let mid = (low + high) / 2
                if ladder[mid].value < magnitude { low = mid + 1 } else { high = mid }
            }
            if ladder[low].value == magnitude || low == 0 { return ladder[low].code | sign }
            let above = ladder[low], below = ladder[low - 1]
            let up = above.value - magnitude, down = magnitude - below.value
            if up < down { return above.code | sign }
            if down < up { return below.code | sign }
            return (below.code & 1 == 0 ? below.code : above.code) | sign
        }
    }

    static let e4m3fn = Float8Format(exponentBits: 4, mantissaBits: 3, bias: 7, hasInfinity: false)
    static let e5m2 = Float8Format(exponentBits: 5, mantissaBits: 2, bias: 15, hasInfinity: true)

    /// float8_e4m3fn bits to Float (exact).
    public static func float8E4M3FNToFloat(_ bits: UInt8) -> Float { e4m3fn.decode[Int(bits)] }
    /// Float to float8_e4m3fn bits: round to nearest even; out of range gives NaN, as PyTorch does.
    public static func floatToFloat8E4M3FN(_ value: Float) -> UInt8 { e4m3fn.encode(value) }
    /// float8_e5m2 bits to Float (exact).
    public static func float8E5M2ToFloat(_ bits: UInt8) -> Float { e5m2.decode[Int(bits)] }
    /// Float to float8_e5m2 bits: round to nearest even; out of range gives infinity.
    public static func floatToFloat8E5M2(_ value: Float) -> UInt8 { e5m2.encode(value) }

    /// IEEE half bits to Float (exact), without needing a `Float16` type.
    public static func float16ToFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F)
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }

    /// Float to IEEE half bits, round to nearest even.
    public static func floatToFloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        if value.isNaN { return sign | 0x7E00 | UInt16((bits >> 13) & 0x3FF) }
        let magnitude = value.magnitude
        if magnitude >= 65520 { return sign | 0x7C00 }
        if magnitude < Float(sign: .plus, exponent: -14, significand: 1) {
            // Subnormal half: units of 2^-24, rounded to nearest even by Float arithmetic.
            let units = (magnitude * Float(sign: .plus, exponent: 24, significand: 1)).rounded(.toNearestOrEven)
            return sign | UInt16(units)
        }
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        var mantissa = bits & 0x7F_FFFF
        var half = UInt32(exponent) << 10 | (mantissa >> 13)
        mantissa &= 0x1FFF
        if mantissa > 0x1000 || (mantissa == 0x1000 && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }
}
