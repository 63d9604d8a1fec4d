import Foundation
import Testing
import Sheaf
@testable import SheafInterchange
import SheafTestSupport

/// The reference implementation's rules for a safetensors header, checked on
/// headers built in memory (the hostile fixtures check the same through files).
@Suite("safetensors header rules")
struct SafetensorsRulesTests {
    func header(_ json: String) throws(SheafError) -> SafetensorsHeader {
        try SafetensorsHeader.parse(Array(json.utf8), file: "t.safetensors")
    }

    func layout(_ json: String, dataSize: Int) throws(SheafError) -> [SafetensorsHeader.Placement] {
        try header(json).layout(dataSize: dataSize, file: "t.safetensors")
    }

    @Test("tensors come back in data order with metadata; unknown members are ignored")
    func reads() throws {
        let parsed = try header(#"{"b":{"dtype":"I32","shape":[1],"data_offsets":[4,8],"extra":[1.5]},"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#)
        #expect(parsed.metadata == ["format": "pt"])
        let placements = try parsed.layout(dataSize: 8, file: "t")
        #expect(placements.map(\.key) == ["a", "b"])
        #expect(placements.map(\.dtype) == [.float32, .int32])
        #expect(placements.map(\.shape) == [[], [1]])
    }

    @Test("integers only: a fraction, an exponent or a sign is refused, not rounded",
          arguments: ["[1.9]", "[1.0]", "[1e0]", "[-1]", "[\"1\"]", "1"])
    func integerShapes(_ shape: String) {
        #expect(throws: SheafError.self) { try header(#"{"a":{"dtype":"U8","shape":"# + shape + #","data_offsets":[0,1]}}"#) }
        #expect(throws: SheafError.self) { try header(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,"# + shape.dropFirst() + "}}") }
    }

    @Test("a repeated key, dtype or metadata name is refused")
    func duplicates() {
        let twice = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        #expect(throws: SheafError.self) { try header(twice) }
        #expect(throws: SheafError.self) { try header(#"{"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}"#) }
        #expect(throws: SheafError.self) { try header(#"{"__metadata__":{"k":"1","k":"2"}}"#) }
    }

    @Test("the data section is covered exactly: no gap, no overlap, no trailing bytes")
    func coverage() throws {
        let two = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#
        #expect(try layout(two, dataSize: 4).count == 2)
        let trailing = try #require(throws: SheafError.self) { try layout(two, dataSize: 5) }
        #expect(trailing.message.contains("not part of any tensor"))
        let gap = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}"#
        #expect(try #require(throws: SheafError.self) { try layout(gap, dataSize: 5) }.message.contains("gap of 1 bytes"))
        let overlap = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#
        #expect(try #require(throws: SheafError.self) { try layout(overlap, dataSize: 3) }.message.contains("overlaps"))
        // Empty tensors take no bytes and may sit anywhere inside the covered range.
        let empty = #"{"e":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#
        #expect(try layout(empty, dataSize: 2).map(\.key) == ["a", "e"])
        #expect(try layout("{}", dataSize: 0).isEmpty)
        #expect(throws: SheafError.self) { try layout("{}", dataSize: 1) }
    }

    @Test("the encoded header is JSON the reader takes back, padded to 8 with spaces")
    func encodes() throws {
        var written = SafetensorsHeader()
        written.metadata = ["quote\"and\\slash/": "line\nbreak\u{1}"]
        written.tensors = [("k\"ey", .init(dtype: "BF16", shape: [2, 3], data_offsets: [0, 12])),
                           ("a/b", .init(dtype: "F8_E4M3", shape: [], data_offsets: [12, 13]))]
        let bytes = try written.encoded()
        #expect((8 + bytes.count) % 8 == 0)
        #expect(bytes.last == 0x20 || (8 + bytes.count) % 8 == 0)
        var reread = try SafetensorsHeader.parse(bytes, file: "t")
        reread.tensors.sort { $0.key > $1.key }
        #expect(reread == written)
    }
}
