import Foundation
import Testing
import Sheaf
@testable import SheafInterchange
import SheafTestSupport

@Suite("zip reader and writer")
struct ZipTests {
    @Test("stored members written by ZipWriter read back with their CRC checked; a prefix reads only its bytes")
    func roundTrip() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("a.zip")
        let first = Array("hello, zip".utf8), second = [UInt8](repeating: 7, count: 100_000)
        do {
            let writer = try FileWriter(path: path)
            let zip = ZipWriter(file: writer)
            try first.withUnsafeBytes { a in Result { () throws(SheafError) in try zip.add(name: "x/first.npy", parts: [a]) } }.get()
            try second.withUnsafeBytes { b in Result { () throws(SheafError) in try zip.add(name: "second", parts: [b, b]) } }.get()
            try zip.finish()
        }
        let reader = try ZipReader(file: try FileReader(path: path))
        #expect(reader.members.map(\.name) == ["x/first.npy", "second"])
        let member = try #require(reader.member("second"))
        #expect(try reader.bytes(of: member, limit: .max) == second + second)
        #expect(try reader.prefix(of: member, count: 3) == [7, 7, 7])
        #expect(throws: SheafError.self) { try reader.bytes(of: member, limit: 10) }
    }

    @Test("a deflated member is inflated once for its header prefix and once whole, CRC checked",
          .enabled(if: FileManager.default.fileExists(atPath: fixturePath("interchange/numpy/deflated.npz"))))
    func deflated() throws {
        let reader = try ZipReader(file: try FileReader(path: fixturePath("interchange/numpy/deflated.npz")))
        for member in reader.members where member.method != 0 {
            let whole = try reader.bytes(of: member, limit: .max)
            #expect(try reader.prefix(of: member, count: 64) == Array(whole.prefix(64)))
        }
    }

    @Test("a file that is not a zip is refused with an error")
    func notZip() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("n.zip")
        try Data("PK\u{3}\u{4}not really a zip".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: SheafError.self) { _ = try ZipReader(file: try FileReader(path: path)) }
    }
}

@Suite("Python literal parser (npy headers)")
struct PythonLiteralTests {
    @Test("npy header dicts parse with their descr, order and shape")
    func headers() throws {
        for (text, dtype, fortran, shape) in [
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", DType.float32, false, [2, 3]),
            ("{'descr': '|u1', 'fortran_order': True, 'shape': (5,), }", .uint8, true, [5]),
            ("{'shape': (), 'fortran_order': False, 'descr': '>i8'}", .int64, false, []),
        ] {
            var bytes = NumPyFormat.magic + [1, 0]
            let padded = text + String(repeating: " ", count: (64 - (10 + text.utf8.count + 1) % 64) % 64) + "\n"
            bytes += [UInt8(padded.utf8.count & 0xFF), UInt8(padded.utf8.count >> 8)] + Array(padded.utf8)
            let header = try NumPyFormat.parseHeader(bytes, file: "t.npy")
            #expect(header.dtype == dtype && header.fortranOrder == fortran && header.shape == shape, "\(text)")
        }
    }

    @Test("code, calls and unknown names in a header are refused",
          arguments: ["{'descr': __import__('os'), 'fortran_order': False, 'shape': ()}",
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (1+1,)}",
                      "{'descr': '<f4', 'fortran_order': Maybe, 'shape': ()}",
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)"])
    func refused(_ text: String) {
        var bytes = NumPyFormat.magic + [1, 0]
        bytes += [UInt8(text.utf8.count + 1), 0] + Array(text.utf8) + [0x0A]
        #expect(throws: SheafError.self) { try NumPyFormat.parseHeader(bytes, file: "t.npy") }
    }
}
