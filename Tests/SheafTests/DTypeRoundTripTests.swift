import Foundation
import Testing
@testable import Sheaf

/// Bytes for every dtype, including NaNs, infinities, subnormals and extreme values.
func sampleTensor(_ dtype: DType, shape: [Int], seed: UInt64 = 1) throws -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return try Tensor(dtype: dtype, shape: shape) { bytes in
        for i in 0..<bytes.count { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
        if dtype == .bool { for i in 0..<bytes.count { bytes[i] &= 1 } }
    }
}

@Suite("Every dtype and shape class round-trips bit-exactly")
struct DTypeRoundTripTests {
    @Test("dtype", arguments: DType.allCases)
    func dtype(_ dtype: DType) throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        sd["scalar"] = try sampleTensor(dtype, shape: [])
        sd["empty"] = try sampleTensor(dtype, shape: [0, 3])
        sd["vector"] = try sampleTensor(dtype, shape: [17])
        sd["matrix"] = try sampleTensor(dtype, shape: [5, 7])
        sd["rank32"] = try sampleTensor(dtype, shape: Array(repeating: 1, count: 30) + [2, 3])
        let options = [SaveOptions(), SaveOptions(packingThreshold: nil), SaveOptions(compression: .deflate(level: 4)),
                       SaveOptions(checksum: .crc32)]
        for (number, options) in options.enumerated() {
            let path = folder.file("\(dtype)-\(number).sheaf")
            try sd.save(to: path, options: options)
            let loaded = try StateDict(contentsOf: path)
            #expect(loaded == sd)
            #expect(try StateDict(contentsOf: path, trustIndex: false) == sd)
            #expect(SheafFile.verify(path: path) == [])
            let file = try SheafFile(path: path)
            // Small, non-empty, uncompressed tensors are packed by default (Spec §18).
            let expected: StorageKind = options.compression != .none ? .deflate : options.packingThreshold == nil ? .contiguous : .packed
            #expect(try file.entry("matrix").storage == expected)
            #expect(try file.entry("scalar").storage == (expected == .deflate ? .contiguous : expected))  // scalars never deflate
            #expect(try file.entry("empty").storage == .contiguous)  // nothing to pack
            #expect(file.version == (expected == .packed ? "1.4" : "1.0"))
        }
    }

    @Test("contiguous data is aligned to 64 bytes and the index offsets are right")
    func alignment() throws {
        let folder = try TemporaryFolder()
        var sd = StateDict()
        for i in 0..<50 { sd["t\(i)"] = try sampleTensor(.float32, shape: [i + 1], seed: UInt64(i)) }
        try sd.save(to: folder.file("a.sheaf"))
        let file = try SheafFile(path: folder.file("a.sheaf"))
        let raw = try Data(contentsOf: URL(fileURLWithPath: folder.file("a.sheaf")))
        for entry in file.entries {
            let offset = try #require(entry.offset)
            #expect(offset % 64 == 0, "\(entry.key) at \(offset)")
            let bytes = raw[offset..<(offset + entry.byteCount)]
            #expect(sd[entry.key]!.withUnsafeBytes { Data($0) } == bytes)
        }
    }

    @Test("float conversions round to nearest even")
    func conversions() throws {
        // bfloat16: 1 + 2^-8 is a tie between 1 and 1 + 2^-7: goes to even (1).
        #expect(FloatFormats.floatToBFloat16(1 + 0x1p-8) == 0x3F80)
        #expect(FloatFormats.floatToBFloat16(1 + 0x1p-8 + 0x1p-20) == 0x3F81)
        #expect(FloatFormats.floatToBFloat16(-2.5) == 0xC020)
        // float16
        #expect(FloatFormats.floatToFloat16(65504) == 0x7BFF)
        #expect(FloatFormats.floatToFloat16(65520) == 0x7C00)
        #expect(FloatFormats.floatToFloat16(0x1p-24) == 0x0001)
        #expect(FloatFormats.floatToFloat16(1 + 0x1p-11) == 0x3C00)
        for bits in UInt16(0)...UInt16(0xFFFF) {
            let value = FloatFormats.float16ToFloat(bits)
            if value.isNaN { continue }
            #expect(FloatFormats.floatToFloat16(value) == bits)
        }
        // float8 e4m3fn: max 448, no infinity, overflow to NaN like PyTorch.
        #expect(FloatFormats.float8E4M3FNToFloat(0x7E) == 448)
        #expect(FloatFormats.floatToFloat8E4M3FN(448) == 0x7E)
        #expect(FloatFormats.floatToFloat8E4M3FN(464) == 0x7E)
        #expect(FloatFormats.floatToFloat8E4M3FN(470) == 0x7F)
        #expect(FloatFormats.float8E4M3FNToFloat(0x01) == 0x1p-9)
        #expect(FloatFormats.floatToFloat8E4M3FN(-0.0) == 0x80)
        // float8 e5m2: max 57344, has infinity.
        #expect(FloatFormats.float8E5M2ToFloat(0x7B) == 57344)
        #expect(FloatFormats.float8E5M2ToFloat(0x7C) == .infinity)
        #expect(FloatFormats.floatToFloat8E5M2(1e9) == 0x7C)
        for code in UInt8(0)...UInt8(255) {
            let a = FloatFormats.float8E4M3FNToFloat(code), b = FloatFormats.float8E5M2ToFloat(code)
            if !a.isNaN { #expect(FloatFormats.floatToFloat8E4M3FN(a) == code) }
            if !b.isNaN { #expect(FloatFormats.floatToFloat8E5M2(b) == code) }
        }
        let t = try Tensor(shape: [3], scalars: [Float(1), 2.5, -3]).converted(to: .bfloat16).converted(to: .float32)
        #expect(try t.scalars(as: Float.self) == [1, 2.5, -3])
    }

    @Test("widening to float32 is exact for every bfloat16 and float16 value, and rounds float64 to nearest")
    func wideningToFloat32() throws {
        let codes = (0...UInt16.max).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let bf16 = try Tensor(dtype: .bfloat16, shape: [65536], byteArray: codes[...]).converted(to: .float32)
        let f16 = try Tensor(dtype: .float16, shape: [65536], byteArray: codes[...]).converted(to: .float32)
        let wide = try bf16.scalars(as: Float.self), half = try f16.scalars(as: Float.self)
        var bf16Wrong = 0, f16Wrong = 0
        for code in 0...Int(UInt16.max) {
            if wide[code].bitPattern != UInt32(code) << 16 { bf16Wrong += 1 }
            let reference = FloatFormats.float16ToFloat(UInt16(code))
            if !(reference.isNaN ? half[code].isNaN : half[code].bitPattern == reference.bitPattern) { f16Wrong += 1 }
        }
        #expect(bf16Wrong == 0)
        #expect(f16Wrong == 0)
        #expect(half[0x3C00] == 1 && half[0x7BFF] == 65504 && half[0x0001] == Float(sign: .plus, exponent: -24, significand: 1))
        let doubles: [Double] = [1.0 / 3, -2.5e-40, 1e39, .pi, 0x1.000001p0, .nan]
        let narrowed = try Tensor(shape: [doubles.count], scalars: doubles).converted(to: .float32).scalars(as: Float.self)
        #expect(narrowed[0] == Float(1.0 / 3) && narrowed[1] == Float(-2.5e-40) && narrowed[2] == .infinity)
        #expect(narrowed[3].bitPattern == 0x4049_0FDB && narrowed[4] == 1 && narrowed[5].isNaN)  // pi to nearest; a tie to even
    }
}
