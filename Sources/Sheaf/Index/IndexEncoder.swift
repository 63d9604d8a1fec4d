/// Writes the index document (Spec/FORMAT.md §8) as JSON bytes: members in
/// sorted order, no insignificant whitespace, absent optionals omitted — the
/// bytes Foundation's `JSONEncoder` gives with `.sortedKeys` and
/// `.withoutEscapingSlashes`, written directly (the encoder took 8% of a save
/// of 10,000 small tensors). The checkpoint structure (§8.1), rare and small,
/// still goes through ``JSON``.
enum IndexEncoder {
    static func encode(_ document: IndexDocument) throws(SheafError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + document.tensors.count * 160)
        out.append(UInt8(ascii: "{"))
        var first = true
        func member(_ name: StaticString) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        if let checksum = document.metadata_checksum { member("metadata_checksum"); string(checksum, into: &out) }
        if let structure = document.structure { member("structure"); out.append(contentsOf: try JSON.encode(structure)) }
        member("tensors")
        out.append(UInt8(ascii: "["))
        for (index, entry) in document.tensors.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            first = true
            out.append(UInt8(ascii: "{"))
            if let arena = entry.arena { member("arena"); integer(arena, into: &out) }
            if let start = entry.arena_start { member("arena_start"); integer(start, into: &out) }
            if let blocks = entry.block_checksums {
                member("block_checksums")
                out.append(UInt8(ascii: "["))
                for (i, block) in blocks.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    string(block, into: &out)
                }
                out.append(UInt8(ascii: "]"))
            }
            if let size = entry.block_size { member("block_size"); integer(size, into: &out) }
            member("checksum"); string(entry.checksum, into: &out)
            member("dtype"); string(entry.dtype, into: &out)
            member("key"); string(entry.key, into: &out)
            member("metadata"); out.append(contentsOf: Array((entry.metadata ? "true" : "false").utf8))
            if let checksum = entry.metadata_checksum { member("metadata_checksum"); string(checksum, into: &out) }
            member("nbytes"); integer(entry.nbytes, into: &out)
            if let offset = entry.offset { member("offset"); integer(offset, into: &out) }
            member("shape")
            out.append(UInt8(ascii: "["))
            for (i, dimension) in entry.shape.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                integer(dimension, into: &out)
            }
            out.append(UInt8(ascii: "]"))
            member("storage"); string(entry.storage, into: &out)
            if let owner = entry.tied_to { member("tied_to"); string(owner, into: &out) }
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: [UInt8(ascii: "]"), UInt8(ascii: "}")])
        return out
    }

    static func integer(_ value: Int, into out: inout [UInt8]) {
        out.append(contentsOf: Array(String(value).utf8))
    }

    /// A JSON string as Foundation writes it: `"` and `\` escaped, control
    /// characters as `\b \f \n \r \t` or `\u00XX`, everything else as its UTF-8.
    static func string(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
