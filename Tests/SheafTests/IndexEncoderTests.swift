import Testing
@testable import Sheaf

/// The hand-written index encoder writes exactly the bytes Foundation's
/// `JSONEncoder` (sorted keys, slashes unescaped) writes for the same document.
@Suite("Index encoding")
struct IndexEncoderTests {
    @Test("byte-identical to JSONEncoder for every optional member, odd keys and a structure")
    func matchesFoundation() throws {
        var keys = ["plain", "a/b", "quote\"back\\slash", "é-ключ-键", "emoji 😀", "%2F", " spaced "]
        keys += (0..<32).map { "control\(Character(Unicode.Scalar(UInt8($0))))end" }
        keys.append("del\u{7F}")
        var entries: [IndexEntry] = []
        for (i, key) in keys.enumerated() {
            entries.append(IndexEntry(
                key: key, dtype: "float32", shape: i % 3 == 0 ? [] : [i, 3, 1 << 40], nbytes: i * 12, offset: i % 2 == 0 ? 4096 * i : nil,
                storage: i % 5 == 0 ? "deflate" : "contiguous", checksum: "0123456789abcdef",
                tied_to: i % 4 == 1 ? keys[0] : nil, metadata: i % 2 == 1,
                metadata_checksum: i % 2 == 1 ? "fedcba9876543210" : nil,
                block_size: i % 3 == 1 ? 1 << 20 : nil, block_checksums: i % 3 == 1 ? ["00000000000000ff", "0000000000000001"] : nil))
        }
        let structure = CheckpointNode.dict(ordered: true, items: [CheckpointItem(key: .string("model/é"), value: .tensor("plain")),
                                                                   CheckpointItem(key: .int(3), value: .metadata("epoch", asTuple: true)),
                                                                   CheckpointItem(key: .none, value: .list([.none, .tuple([])]))])
        for document in [IndexDocument(tensors: entries, metadata_checksum: "1111111111111111", structure: structure),
                         IndexDocument(tensors: entries, metadata_checksum: nil),
                         IndexDocument(tensors: [], metadata_checksum: nil)] {
            let ours = try IndexEncoder.encode(document)
            let foundation = try JSON.encode(document)
            #expect(ours == foundation, "\(String(decoding: ours.prefix(300), as: UTF8.self))")
            #expect(IndexParser.document(ours) == document)
        }
    }

    @Test("the reader matches member names, dtypes and storage kinds by their bytes, and escaped spellings still count")
    func escapedNames() throws {
        let plain = #"{"tensors":[{"checksum":"0123456789abcdef","dtype":"float32","key":"k","metadata":false,"nbytes":8,"shape":[2],"storage":"packed","arena":0,"arena_start":16,"offset":128}]}"#
        let escaped = #"{"tensors":[{"check\u0073um":"0123456789abcdef","dtype":"float\u00332","k\u0065y":"k","metadata":false,"nbytes":8,"shape":[2],"stor\u0061ge":"pack\u0065d","\u0061rena":0,"arena_start":16,"offset":128}]}"#
        let a = try #require(IndexParser.document(Array(plain.utf8)))
        let b = try #require(IndexParser.document(Array(escaped.utf8)))
        #expect(a == b)
        #expect(a.tensors.first?.storage == "packed" && a.tensors.first?.arena_start == 16 && a.tensors.first?.dtype == "float32")
        // A repeated member stays refused when one spelling is escaped.
        let repeated = #"{"tensors":[{"key":"k","k\u0065y":"j","checksum":"0123456789abcdef","dtype":"float32","metadata":false,"nbytes":8,"shape":[2],"storage":"contiguous"}]}"#
        #expect(IndexParser.document(Array(repeated.utf8)) == nil)
    }
}
