import Sheaf

/// NumPy's `.npy` format (versions 1.0, 2.0, 3.0), as `numpy.lib.format` defines it.
public enum NumPyFormat {
    /// The longest header this reader accepts. NumPy itself refuses headers over
    /// 10,000 bytes unless told otherwise; 64 KiB covers every header NumPy writes.
    public static let maxHeaderBytes = 65_536
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// A parsed header.
    struct Header: Equatable {
        var dtype: DType
        var bigEndian: Bool
        var fortranOrder: Bool
        var shape: [Int]
        /// Bytes before the data.
        var dataOffset: Int
    }

    /// Parses the header at the start of `prefix` (which must hold at least
    /// the whole header; callers read `min(size, 10 + maxHeaderBytes)`).
    static func parseHeader(_ prefix: [UInt8], file: String, key: String? = nil) throws(SheafError) -> Header {
        func fail(_ message: String, _ code: SheafError.Code = .invalidFile) -> SheafError {
            SheafError(code, file: file, key: key, "npy header: \(message)")
        }
        guard prefix.count >= 10, Array(prefix[0..<6]) == magic else { throw fail("missing the \\x93NUMPY magic") }
        let major = prefix[6]
        let headerLength: Int
        let start: Int
        switch major {
        case 1:
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8
            start = 10
        case 2, 3:
            guard prefix.count >= 12 else { throw fail("truncated") }
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8 | Int(prefix[10]) << 16 | Int(prefix[11]) << 24
            start = 12
        default:
            throw fail("unsupported format version \(major).\(prefix[7]); expected 1.0, 2.0 or 3.0", .unsupported)
        }
        guard headerLength <= maxHeaderBytes else {
            throw fail("header of \(headerLength) bytes is over the limit of \(maxHeaderBytes)", .limitExceeded)
        }
        guard prefix.count >= start + headerLength else {
            throw fail("header says \(headerLength) bytes, file has \(prefix.count - start) after the preamble")
        }
        let text = String(decoding: prefix[start..<(start + headerLength)], as: UTF8.self)
        var parser = PythonLiteralParser(text)
        let value: PythonLiteral
        do { value = try parser.parseTop() } catch { throw fail(error.message) }
        guard case .dict(let items) = value else { throw fail("header is not a dict") }
        var descr: PythonLiteral?, fortran: PythonLiteral?, shapeValue: PythonLiteral?
        for (k, v) in items {
            switch k {
            case "descr": descr = v
            case "fortran_order": fortran = v
            case "shape": shapeValue = v
            default: throw fail("unexpected key '\(k)'")
            }
        }
        guard let descr, let fortran, let shapeValue else { throw fail("needs 'descr', 'fortran_order' and 'shape'") }
        guard case .string(let typestr) = descr else {
            throw fail("structured (record) dtypes are not tensors; only plain numeric dtypes convert", .unsupported)
        }
        guard case .bool(let fortranOrder) = fortran else { throw fail("'fortran_order' must be True or False") }
        guard case .tuple(let dims) = shapeValue else { throw fail("'shape' must be a tuple") }
        var shape: [Int] = []
        for dim in dims {
            guard case .int(let d) = dim, d >= 0 else { throw fail("'shape' must hold non-negative integers") }
            shape.append(d)
        }
        do { _ = try Shape.elementCount(shape) } catch { throw error.with(file: file, key: key) }
        let (dtype, bigEndian) = try parseTypestr(typestr, file: file, key: key)
        return Header(dtype: dtype, bigEndian: bigEndian, fortranOrder: fortranOrder, shape: shape,
                      dataOffset: start + headerLength)
    }

    /// Maps a NumPy type string (`<f4`, `|b1`, `>i8`, …) to a dtype and byte order.
    static func parseTypestr(_ typestr: String, file: String, key: String?) throws(SheafError) -> (DType, Bool) {
        let chars = Array(typestr)
        guard chars.count >= 2, "<>|=".contains(chars[0]) else {
            throw SheafError(.unsupported, file: file, key: key, "npy dtype '\(typestr)' is not a plain numeric dtype")
        }
        let code = String(chars[1...])
        let dtype: DType
        switch code {
        case "b1": dtype = .bool
        case "u1": dtype = .uint8
        case "u2": dtype = .uint16
        case "u4": dtype = .uint32
        case "u8": dtype = .uint64
        case "i1": dtype = .int8
        case "i2": dtype = .int16
        case "i4": dtype = .int32
        case "i8": dtype = .int64
        case "f2": dtype = .float16
        case "f4": dtype = .float32
        case "f8": dtype = .float64
        case "c8": dtype = .complex64
        case "c16": dtype = .complex128
        default:
            let reason: String
            switch chars[1] {
            case "O": reason = "object arrays hold Python objects (loading them would run pickle); they are refused"
            case "U", "S": reason = "string arrays are not tensors"
            case "V": reason = "void/record dtypes are not tensors"
            case "M", "m": reason = "datetime arrays are not tensors"
            default: reason = "not a dtype Sheaf has"
            }
            throw SheafError(.unsupported, file: file, key: key, "npy dtype '\(typestr)': \(reason)")
        }
        return (dtype, chars[0] == ">")
    }

    /// The header bytes for a C-order little-endian array, version 1.0 when it
    /// fits, padded so the data starts at a multiple of 64.
    /// dtypes NumPy has no type for; written as exact float32 when widening.
    static let widened: Set<DType> = [.bfloat16, .float8_e4m3fn, .float8_e5m2]

    static func header(dtype: DType, shape: [Int]) throws(SheafError) -> [UInt8] {
        let code: String
        switch dtype {
        case .bool: code = "|b1"
        case .uint8: code = "|u1"
        case .int8: code = "|i1"
        case .uint16: code = "<u2"
        case .uint32: code = "<u4"
        case .uint64: code = "<u8"
        case .int16: code = "<i2"
        case .int32: code = "<i4"
        case .int64: code = "<i8"
        case .float16: code = "<f2"
        case .float32: code = "<f4"
        case .float64: code = "<f8"
        case .complex64: code = "<c8"
        case .complex128: code = "<c16"
        case .bfloat16, .float8_e4m3fn, .float8_e5m2:
            throw SheafError(.unsupported, "npy has no \(dtype) dtype; set widen to store exact float32 values instead (lossless)",
                             remedy: .widen)
        }
        let shapeText = shape.isEmpty ? "()" : shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var text = "{'descr': '\(code)', 'fortran_order': False, 'shape': \(shapeText), }"
        let preamble = 10
        var total = preamble + text.utf8.count + 1
        var version: UInt8 = 1
        if total > 65535 + preamble { version = 2; total += 2 }
        let padding = (64 - total % 64) % 64
        text += String(repeating: " ", count: padding) + "\n"
        var bytes = magic + [version, 0]
        let length = text.utf8.count
        if version == 1 {
            bytes += [UInt8(length & 0xFF), UInt8(length >> 8)]
        } else {
            bytes += [UInt8(length & 0xFF), UInt8((length >> 8) & 0xFF), UInt8((length >> 16) & 0xFF), UInt8(length >> 24)]
        }
        return bytes + Array(text.utf8)
    }

    /// Turns raw array bytes as stored (any byte order, C or Fortran order) into
    /// a C-order little-endian tensor.
    static func normalize(_ tensor: Tensor, bigEndian: Bool, fortranOrder: Bool) throws(SheafError) -> Tensor {
        var result = tensor
        if bigEndian && tensor.dtype.itemSize > 1 {
            let unit = tensor.dtype.isComplex ? tensor.dtype.itemSize / 2 : tensor.dtype.itemSize
            result.withUnsafeMutableBytes { ByteOrder.swap($0, unit: unit) }
        }
        if fortranOrder && tensor.shape.count > 1 {
            result = try Layout.fortranToC(result)
        }
        return result
    }
}

enum ByteOrder {
    /// Reverses the bytes of every `unit`-byte element in place.
    static func swap(_ bytes: UnsafeMutableRawBufferPointer, unit: Int) {
        guard unit > 1 else { return }
        var offset = 0
        while offset + unit <= bytes.count {
            var i = offset, j = offset + unit - 1
            while i < j { bytes.swapAt(i, j); i += 1; j -= 1 }
            offset += unit
        }
    }
}

enum Layout {
    /// Copies a tensor whose bytes are in Fortran (column-major) order into C order.
    static func fortranToC(_ tensor: Tensor) throws(SheafError) -> Tensor {
        let shape = tensor.shape
        // Fortran order of shape S is C order of reversed(S); transposing that gives S.
        var fortranStrides = [Int](repeating: 1, count: shape.count)
        for d in 1..<shape.count { fortranStrides[d] = fortranStrides[d - 1] * shape[d - 1] }
        return try gather(tensor, shape: shape, strides: fortranStrides, offset: 0)
    }

    /// Builds a C-order tensor of `shape` whose element at index i is element
    /// `offset + Σ i_d * strides[d]` of `source` (element units).
    static func gather(_ source: Tensor, shape: [Int], strides: [Int], offset: Int) throws(SheafError) -> Tensor {
        let item = source.dtype.itemSize
        let count = shape.reduce(1, *)
        // Callers validate that every index lands inside `source`.
        var result = try Tensor(zeros: shape, dtype: source.dtype)
        result.withUnsafeMutableBytes { out in
            source.withUnsafeBytes { input in
                guard count > 0 else { return }
                if shape.isEmpty {
                    out.baseAddress!.copyMemory(from: input.baseAddress! + offset * item, byteCount: item)
                    return
                }
                var index = [Int](repeating: 0, count: shape.count)
                var position = offset
                let last = shape.count - 1
                let innerStride = strides[last]
                var written = 0
                while written < count {
                    // Copy one innermost row.
                    if innerStride == 1 {
                        let bytes = shape[last] * item
                        (out.baseAddress! + written * item).copyMemory(from: input.baseAddress! + position * item, byteCount: bytes)
                    } else {
                        for k in 0..<shape[last] {
                            (out.baseAddress! + (written + k) * item)
                                .copyMemory(from: input.baseAddress! + (position + k * innerStride) * item, byteCount: item)
                        }
                    }
                    written += shape[last]
                    // Advance the outer index.
                    var d = last - 1
                    while d >= 0 {
                        index[d] += 1
                        position += strides[d]
                        if index[d] < shape[d] { break }
                        position -= strides[d] * shape[d]
                        index[d] = 0
                        d -= 1
                    }
                    if d < 0 { break }
                }
            }
        }
        return result
    }
}
