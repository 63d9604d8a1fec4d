import Testing
@testable import Sheaf

/// The checked index a file opens into: keys found by their bytes when all
/// are ASCII, by `String` equality otherwise, with every rule of §8 checked at
/// open and entries made when read.
@Suite("Index table")
struct IndexTableTests {
    /// One index entry of a float32 [2] tensor, as JSON text.
    static func entry(_ key: String, tiedTo: String? = nil, checksum: String = "0123456789abcdef") -> String {
        let tie = tiedTo.map { #","tied_to":"\#($0)""# } ?? ""
        return #"{"checksum":"\#(checksum)","dtype":"float32","key":"\#(key)","metadata":false,"nbytes":8,"shape":[2],"storage":"contiguous"\#(tie)}"#
    }

    static func table(_ entries: [String], kind: SheafKind = .dict) throws(SheafError) -> IndexTable {
        let json = #"{"tensors":[\#(entries.joined(separator: ","))]}"#
        guard case .index(let raw) = IndexParser.parse(Array(json.utf8)) else {
            throw SheafError(.invalidIndex, "not parsed: \(json)")
        }
        return try SheafFile.validate(raw, kind: kind, algorithm: .xxh3_64, fileSize: 1 << 20, path: "index.sheaf")
    }

    static func refusal(_ entries: [String], kind: SheafKind = .dict) -> SheafError? {
        do {
            _ = try table(entries, kind: kind)
            return nil
        } catch {
            return error
        }
    }

    @Test("every key is found at its position, a missing key is not, and entries are made with their ties")
    func lookup() throws {
        let keys = (0..<3000).map { "layer\($0 / 7).block\($0 % 7).weight" } + ["a", "%2F/x", "0"]
        var entries = keys.map { Self.entry($0) }
        entries.append(Self.entry("tied", tiedTo: "layer0.block0.weight"))
        let table = try Self.table(entries)
        #expect(table.count == keys.count + 1)
        for (position, key) in keys.enumerated() {
            #expect(table.position(of: key) == position)
            #expect(table.key(at: position) == key)
        }
        for missing in ["", "layer0.block0.weigh", "layer0.block0.weightt", "A", "layer428.block7.weight"] {
            #expect(table.position(of: missing) == nil, "\(missing)")
        }
        let tied = table.entry(at: keys.count)
        #expect(tied.key == "tied" && tied.tiedTo == "layer0.block0.weight" && tied.shape == [2] && tied.byteCount == 8)
        #expect(table.entry(at: 0).tiedTo == nil)
    }

    @Test("keys and ties written with escapes are the keys they spell")
    func escapedKeys() throws {
        let table = try Self.table([Self.entry(#"\u0061"#), Self.entry(#"b\"c\\d"#), Self.entry("e", tiedTo: #"\u0061"#)])
        #expect(table.position(of: "a") == 0)
        #expect(table.position(of: #"b"c\d"#) == 1)
        #expect(table.entry(at: 2).tiedTo == "a")
        #expect(Self.refusal([Self.entry("a"), Self.entry(#"\u0061"#)])?.message.contains("duplicate key") == true)
    }

    @Test("keys equal as Strings are one key: canonically equivalent spellings are duplicates and either finds the other")
    func stringEquality() throws {
        // "é" precomposed and decomposed: one key to a state dict, so a duplicate here.
        let refusal = Self.refusal([Self.entry("caf\u{E9}"), Self.entry("cafe\u{301}")])
        #expect(refusal?.code == .invalidIndex && refusal?.message.contains("duplicate key") == true)
        let mixed = try Self.table([Self.entry("caf\u{E9}"), Self.entry("plain"), Self.entry("x", tiedTo: "cafe\u{301}")])
        #expect(mixed.position(of: "cafe\u{301}") == 0 && mixed.position(of: "plain") == 1)
        #expect(mixed.entry(at: 2).tiedTo == "caf\u{E9}")
        // An ASCII file looked up with a key that is not ASCII but equal as a String (KELVIN SIGN is "K").
        let ascii = try Self.table([Self.entry("J"), Self.entry("K")])
        #expect(ascii.position(of: "\u{212A}") == 1)
        #expect(ascii.position(of: "\u{212B}") == nil)
    }

    @Test("duplicates, ties to themselves, to later keys or to tied keys, and lists out of order are refused")
    func refusals() throws {
        #expect(Self.refusal([Self.entry("a"), Self.entry("b"), Self.entry("a")])?.message.contains("duplicate key") == true)
        for entries in [[Self.entry("a", tiedTo: "a")],
                        [Self.entry("a", tiedTo: "b"), Self.entry("b")],
                        [Self.entry("a"), Self.entry("b", tiedTo: "a"), Self.entry("c", tiedTo: "b")],
                        [Self.entry("a"), Self.entry("b", tiedTo: "a", checksum: "0123456789abcdee")]] {
            let refusal = Self.refusal(entries)
            #expect(refusal?.code == .invalidIndex && refusal?.message.contains("not an earlier untied key") == true, "\(entries)")
        }
        #expect(try Self.table([Self.entry("0"), Self.entry("1")], kind: .list).count == 2)
        #expect(Self.refusal([Self.entry("1"), Self.entry("0")], kind: .list)?.message.contains("a list's keys") == true)
        #expect(Self.refusal([Self.entry("00")], kind: .tensor) != nil)
        #expect(Self.refusal([Self.entry("")])?.code == .invalidKey)
        #expect(Self.refusal([Self.entry(#"a\u0000b"#)])?.code == .invalidKey)
    }

    @Test("strings with control characters, bad escapes or invalid UTF-8 are not JSON")
    func malformedStrings() {
        for bad in ["a\u{1}b", #"a\qb"#, #"a\ud800b"#, "a\tb"] {
            let json = #"{"tensors":[\#(Self.entry(bad))]}"#
            guard case .malformed = IndexParser.parse(Array(json.utf8)) else {
                Issue.record("accepted \(bad.debugDescription)")
                continue
            }
        }
        var invalidUTF8 = Array(#"{"tensors":[\#(Self.entry("qq"))]}"#.utf8)
        invalidUTF8[invalidUTF8.firstIndex(of: UInt8(ascii: "q"))!] = 0xC3
        guard case .malformed = IndexParser.parse(invalidUTF8) else {
            Issue.record("accepted invalid UTF-8")
            return
        }
    }
}
