extension Tensor {
    /// This tensor's elements converted to `target`.
    ///
    /// Floating-point targets round to nearest, ties to even (float16, bfloat16
    /// and the float8 formats included); float to integer truncates toward zero
    /// and saturates at the target's range; NaN becomes 0 in integers; integer to
    /// integer conversion is exact when the value fits and saturates otherwise;
    /// bool is `value != 0`. Complex converts only to complex.
    /// - Complexity: O(n) in the element count.
    public func converted(to target: DType) throws(SheafError) -> Tensor {
        if target == dtype { return self }
        if dtype.isComplex || target.isComplex {
            guard dtype.isComplex && target.isComplex else {
                throw SheafError(.dtypeMismatch, "cannot convert \(dtype) to \(target): complex converts only to complex")
            }
        }
        let n = dtype.isComplex ? count * 2 : count
        let source = storage.bytes
        let result = TensorStorage(uninitialized: try Shape.byteCount(shape, target))
        let out = result.mutableBytes
        if target == .float32, [.bfloat16, .float16, .float64].contains(dtype) {
            // Widening (and float64 narrowing) to float32 as tight loops: what every
            // bfloat16 or float16 checkpoint goes through when a model loads it.
            let floats = out.bindMemory(to: Float.self)
            // Unaligned loads: a tensor may lie anywhere in a safetensors or npy file.
            switch dtype {
            case .bfloat16:
                // Exact: a bfloat16 is the top half of a float32's bits.
                for i in 0..<n { floats[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
            case .float16:
                for i in 0..<n { floats[i] = FloatFormats.float16ToFloat(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            default:
                for i in 0..<n { floats[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            }
        } else if dtype.isInteger || dtype == .bool, target.isInteger || target == .bool {
            let read = Self.integerReader(dtype)
            let write = Self.integerWriter(target)
            for i in 0..<n { write(out, i, read(source, i)) }
        } else if dtype == .float32 && target == .float16 {
            for i in 0..<n {
                out.storeBytes(of: FloatFormats.floatToFloat16(source.load(fromByteOffset: i * 4, as: Float.self)),
                               toByteOffset: i * 2, as: UInt16.self)
            }
        } else {
            let read = Self.doubleReader(dtype)
            let write = Self.doubleWriter(target)
            for i in 0..<n { write(out, i, read(source, i)) }
        }
        return Tensor(dtype: target, shape: shape, storage: result, metadata: metadata)
    }

    /// Reads element `i` as a Double (complex: part `i`).
    static func doubleReader(_ dtype: DType) -> (UnsafeRawBufferPointer, Int) -> Double {
        switch dtype {
        case .bool: { $0.load(fromByteOffset: $1, as: UInt8.self) != 0 ? 1 : 0 }
        case .uint8: { Double($0.load(fromByteOffset: $1, as: UInt8.self)) }
        case .uint16: { Double($0.loadUnaligned(fromByteOffset: $1 * 2, as: UInt16.self)) }
        case .uint32: { Double($0.loadUnaligned(fromByteOffset: $1 * 4, as: UInt32.self)) }
        case .uint64: { Double($0.loadUnaligned(fromByteOffset: $1 * 8, as: UInt64.self)) }
        case .int8: { Double($0.load(fromByteOffset: $1, as: Int8.self)) }
        case .int16: { Double($0.loadUnaligned(fromByteOffset: $1 * 2, as: Int16.self)) }
        case .int32: { Double($0.loadUnaligned(fromByteOffset: $1 * 4, as: Int32.self)) }
        case .int64: { Double($0.loadUnaligned(fromByteOffset: $1 * 8, as: Int64.self)) }
        case .float16: { Double(FloatFormats.float16ToFloat($0.loadUnaligned(fromByteOffset: $1 * 2, as: UInt16.self))) }
        case .bfloat16: { Double(FloatFormats.bfloat16ToFloat($0.loadUnaligned(fromByteOffset: $1 * 2, as: UInt16.self))) }
        case .float32, .complex64: { Double($0.loadUnaligned(fromByteOffset: $1 * 4, as: Float.self)) }
        case .float64, .complex128: { $0.loadUnaligned(fromByteOffset: $1 * 8, as: Double.self) }
        case .float8_e4m3fn: { Double(FloatFormats.float8E4M3FNToFloat($0.load(fromByteOffset: $1, as: UInt8.self))) }
        case .float8_e5m2: { Double(FloatFormats.float8E5M2ToFloat($0.load(fromByteOffset: $1, as: UInt8.self))) }
        }
    }

    static func doubleWriter(_ dtype: DType) -> (UnsafeMutableRawBufferPointer, Int, Double) -> Void {
        func int<T: FixedWidthInteger>(_ type: T.Type) -> (UnsafeMutableRawBufferPointer, Int, Double) -> Void {
            { buffer, i, value in
                let v: T
                if value.isNaN { v = 0 }
                else if value >= Double(T.max) { v = T.max }
                else if value <= Double(T.min) { v = T.min }
                else { v = T(value.rounded(.towardZero)) }
                buffer.storeBytes(of: v, toByteOffset: i * MemoryLayout<T>.size, as: T.self)
            }
        }
        switch dtype {
        case .bool: return { $0.storeBytes(of: $2 != 0 ? UInt8(1) : 0, toByteOffset: $1, as: UInt8.self) }
        case .uint8: return int(UInt8.self)
        case .uint16: return int(UInt16.self)
        case .uint32: return int(UInt32.self)
        case .uint64: return int(UInt64.self)
        case .int8: return int(Int8.self)
        case .int16: return int(Int16.self)
        case .int32: return int(Int32.self)
        case .int64: return int(Int64.self)
        case .float16: return { $0.storeBytes(of: FloatFormats.floatToFloat16(Float($2)), toByteOffset: $1 * 2, as: UInt16.self) }
        case .bfloat16: return { $0.storeBytes(of: FloatFormats.floatToBFloat16(Float($2)), toByteOffset: $1 * 2, as: UInt16.self) }
        case .float32, .complex64: return { $0.storeBytes(of: Float($2), toByteOffset: $1 * 4, as: Float.self) }
        case .float64, .complex128: return { $0.storeBytes(of: $2, toByteOffset: $1 * 8, as: Double.self) }
        case .float8_e4m3fn: return { $0.storeBytes(of: FloatFormats.floatToFloat8E4M3FN(Float($2)), toByteOffset: $1, as: UInt8.self) }
        case .float8_e5m2: return { $0.storeBytes(of: FloatFormats.floatToFloat8E5M2(Float($2)), toByteOffset: $1, as: UInt8.self) }
        }
    }

    /// Integer elements widened to a 65-bit-safe pair: (value as Int64, or nil with the UInt64 when above Int64.max).
    static func integerReader(_ dtype: DType) -> (UnsafeRawBufferPointer, Int) -> (Int64, UInt64?) {
        switch dtype {
        case .uint64: return { buffer, i in
            let v = buffer.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
            return v > UInt64(Int64.max) ? (Int64.max, v) : (Int64(v), nil)
        }
        default:
            let read = doubleReader(dtype)
            switch dtype {
            case .int64: return { ($0.loadUnaligned(fromByteOffset: $1 * 8, as: Int64.self), nil) }
            default: return { (Int64(read($0, $1)), nil) }
            }
        }
    }

    static func integerWriter(_ dtype: DType) -> (UnsafeMutableRawBufferPointer, Int, (Int64, UInt64?)) -> Void {
        func int<T: FixedWidthInteger>(_ type: T.Type) -> (UnsafeMutableRawBufferPointer, Int, (Int64, UInt64?)) -> Void {
            { buffer, i, value in
                let v: T = value.1.map { T(clamping: $0) } ?? T(clamping: value.0)
                buffer.storeBytes(of: v, toByteOffset: i * MemoryLayout<T>.size, as: T.self)
            }
        }
        switch dtype {
        case .bool: return { $0.storeBytes(of: ($2.0 != 0 || $2.1 != nil) ? UInt8(1) : 0, toByteOffset: $1, as: UInt8.self) }
        case .uint8: return int(UInt8.self)
        case .uint16: return int(UInt16.self)
        case .uint32: return int(UInt32.self)
        case .uint64: return int(UInt64.self)
        case .int8: return int(Int8.self)
        case .int16: return int(Int16.self)
        case .int32: return int(Int32.self)
        default: return int(Int64.self)
        }
    }
}

extension Tensor {
    /// A function that reads element `i` (for complex, part `i`) of raw bytes of
    /// `dtype` as a Double, exactly where Double can hold the value.
    package static func elementReader(_ dtype: DType) -> (UnsafeRawBufferPointer, Int) -> Double {
        doubleReader(dtype)
    }
}
