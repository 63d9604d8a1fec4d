import CZlib
import Sheaf

/// A read-only zip archive (the container of `.npz` files and PyTorch
/// checkpoints): stored and deflated members, zip64.
///
/// Written here rather than taken from a zip library for two measured needs:
/// PyTorch stores tensor data as uncompressed, 64-byte-aligned members that we
/// read at their file offset directly into tensor storage (no staging copy),
/// and every size field is checked against the real file and capped before
/// anything is allocated. Inflation uses the system zlib.
final class ZipReader {
    /// The most members an archive may list.
    static let maxMembers = 1_000_000
    /// The largest ratio of uncompressed to compressed size accepted for a deflated member.
    static let maxCompressionRatio = 1_032  // deflate's own maximum is about 1032:1

    struct Member {
        let name: String
        let method: UInt16
        let crc: UInt32
        let compressedSize: Int
        let size: Int
        let headerOffset: Int
    }

    let file: FileReader
    let members: [Member]
    let byName: [String: Int]

    var path: String { file.path }

    init(file: FileReader) throws(SheafError) {
        self.file = file
        let path = file.path
        func bad(_ message: String) -> SheafError { SheafError(.invalidFile, file: path, "zip: \(message)") }
        // End of central directory: the last record with its signature.
        let tail = min(file.size, 22 + 65_535)
        let end = try file.bytes(at: file.size - tail, count: tail)
        guard let eocd = stride(from: end.count - 22, through: 0, by: -1).first(where: {
            end[$0] == 0x50 && end[$0 + 1] == 0x4B && end[$0 + 2] == 0x05 && end[$0 + 3] == 0x06
        }) else { throw bad("no end-of-central-directory record; not a zip file or truncated") }
        var cursor = ByteCursor(Array(end[eocd...]), what: "zip end record")
        _ = try cursor.take(10)
        var count = Int(try cursor.u16())
        var directorySize = Int(try cursor.u32())
        var directoryOffset = Int(try cursor.u32())
        // Zip64 locator right before the end record.
        let locatorStart = file.size - tail + eocd - 20
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF, locatorStart >= 0 {
            var locator = ByteCursor(try file.bytes(at: locatorStart, count: 20), what: "zip64 locator")
            guard try locator.u32() == 0x0706_4B50 else { throw bad("zip64 locator missing") }
            _ = try locator.u32()
            let recordOffset = try locator.u64()
            guard recordOffset < UInt64(file.size) else { throw bad("zip64 record offset past the end") }
            var record = ByteCursor(try file.bytes(at: Int(recordOffset), count: 56), what: "zip64 end record")
            guard try record.u32() == 0x0606_4B50 else { throw bad("zip64 end record missing") }
            _ = try record.take(20)
            let entries = try record.u64()
            _ = try record.u64()
            let size = try record.u64()
            let offset = try record.u64()
            guard entries <= UInt64(Self.maxMembers), size <= UInt64(file.size), offset <= UInt64(file.size) else {
                throw bad("zip64 directory sizes exceed the file")
            }
            count = Int(entries); directorySize = Int(size); directoryOffset = Int(offset)
        }
        guard count <= Self.maxMembers else {
            throw SheafError(.limitExceeded, file: path, "zip lists \(count) members, over the limit of \(Self.maxMembers)")
        }
        guard directoryOffset <= file.size, directorySize <= file.size - directoryOffset else {
            throw bad("central directory (\(directorySize) bytes at \(directoryOffset)) runs past the end of the \(file.size)-byte file")
        }
        var directory = ByteCursor(try file.bytes(at: directoryOffset, count: directorySize), what: "zip central directory")
        var members: [Member] = []
        var byName: [String: Int] = [:]
        members.reserveCapacity(count)
        for _ in 0..<count {
            guard try directory.u32() == 0x0201_4B50 else { throw bad("bad central directory entry signature") }
            _ = try directory.take(4)
            let flags = try directory.u16()
            let method = try directory.u16()
            _ = try directory.take(4)
            let crc = try directory.u32()
            var compressed = UInt64(try directory.u32())
            var size = UInt64(try directory.u32())
            let nameLength = Int(try directory.u16())
            let extraLength = Int(try directory.u16())
            let commentLength = Int(try directory.u16())
            _ = try directory.take(8)
            var offset = UInt64(try directory.u32())
            let name = String(decoding: try directory.take(nameLength), as: UTF8.self)
            var extra = ByteCursor(Array(try directory.take(extraLength)), what: "zip extra field")
            _ = try directory.take(commentLength)
            while extra.remaining >= 4 {
                let id = try extra.u16()
                let length = Int(try extra.u16())
                var field = ByteCursor(Array(try extra.take(length)), what: "zip64 extra field")
                if id == 0x0001 {
                    if size == 0xFFFF_FFFF { size = try field.u64() }
                    if compressed == 0xFFFF_FFFF { compressed = try field.u64() }
                    if offset == 0xFFFF_FFFF { offset = try field.u64() }
                }
            }
            guard flags & 1 == 0 else { throw SheafError(.unsupported, file: path, key: name, "zip member is encrypted") }
            guard method == 0 || method == 8 else {
                throw SheafError(.unsupported, file: path, key: name, "zip compression method \(method); only stored (0) and deflate (8) are supported")
            }
            guard compressed <= UInt64(file.size), offset <= UInt64(file.size) else {
                throw bad("member '\(name)' claims \(compressed) bytes at \(offset) in a \(file.size)-byte file")
            }
            if method == 0 && size != compressed { throw bad("stored member '\(name)' has different sizes") }
            if method == 8 && size > compressed * UInt64(Self.maxCompressionRatio) + 1024 {
                throw SheafError(.limitExceeded, file: path, key: name,
                                 "zip member would inflate \(compressed) bytes to \(size), a ratio over \(Self.maxCompressionRatio):1")
            }
            guard size <= UInt64(Int.max / 2) else { throw bad("member '\(name)' is too large") }
            guard byName[name] == nil else { throw bad("member '\(name)' appears twice") }
            byName[name] = members.count
            members.append(Member(name: name, method: method, crc: crc, compressedSize: Int(compressed), size: Int(size),
                                  headerOffset: Int(offset)))
        }
        self.members = members
        self.byName = byName
    }

    /// Whether the file starts like a zip archive.
    static func looksLikeZip(_ prefix: [UInt8]) -> Bool {
        prefix.count >= 4 && prefix[0] == 0x50 && prefix[1] == 0x4B && prefix[2] == 0x03 && prefix[3] == 0x04
    }

    func member(_ name: String) -> Member? { byName[name].map { members[$0] } }

    /// The file offset of a member's data (after its local header).
    func dataOffset(of member: Member) throws(SheafError) -> Int {
        var header = ByteCursor(try file.bytes(at: member.headerOffset, count: 30), what: "zip local header")
        guard try header.u32() == 0x0403_4B50 else {
            throw SheafError(.invalidFile, file: path, key: member.name, "zip local header signature missing")
        }
        _ = try header.take(22)
        let nameLength = Int(try header.u16())
        let extraLength = Int(try header.u16())
        let offset = member.headerOffset + 30 + nameLength + extraLength
        guard offset <= file.size, member.compressedSize <= file.size - offset else {
            throw SheafError(.invalidFile, file: path, key: member.name, "zip member data runs past the end of the file")
        }
        return offset
    }

    /// Reads (inflating if needed) a member's whole content into `buffer`, which
    /// must be exactly `member.size` bytes, and checks its CRC-32.
    func read(_ member: Member, into buffer: UnsafeMutableRawBufferPointer) throws(SheafError) {
        guard buffer.count == member.size else {
            throw SheafError(.invalidFile, file: path, key: member.name, "zip member is \(member.size) bytes, expected \(buffer.count)")
        }
        let offset = try dataOffset(of: member)
        if member.method == 0 {
            try file.read(into: buffer, at: offset)
        } else {
            try inflate(member, from: offset, into: buffer)
        }
        let crc = ChecksumAlgorithm.crc32.digest(UnsafeRawBufferPointer(buffer))
        guard UInt32(truncatingIfNeeded: crc) == member.crc || buffer.count == 0 && member.crc == 0 else {
            throw SheafError(.checksumMismatch, file: path, key: member.name,
                             "zip CRC-32 mismatch: the data does not match the directory's CRC-32 \(String(member.crc, radix: 16))")
        }
    }

    func bytes(of member: Member, limit: Int) throws(SheafError) -> [UInt8] {
        guard member.size <= limit else {
            throw SheafError(.limitExceeded, file: path, key: member.name, "zip member of \(member.size) bytes is over the limit of \(limit)")
        }
        var bytes = [UInt8](repeating: 0, count: member.size)
        try bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(SheafError) in try read(member, into: buffer) }
        }.get()
        return bytes
    }

    /// The first `count` bytes of a member (fewer when it is shorter), inflating
    /// only as far as needed: for reading a header before the data. The CRC is
    /// checked when the whole member is read.
    func prefix(of member: Member, count: Int) throws(SheafError) -> [UInt8] {
        let count = min(count, member.size)
        var bytes = [UInt8](repeating: 0, count: count)
        let offset = try dataOffset(of: member)
        try bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(SheafError) in
                if member.method == 0 { try file.read(into: buffer, at: offset) } else {
                    try inflate(member, from: offset, into: buffer, prefixOnly: true)
                }
            }
        }.get()
        return bytes
    }

    private func inflate(_ member: Member, from offset: Int, into output: UnsafeMutableRawBufferPointer,
                         prefixOnly: Bool = false) throws(SheafError) {
        var stream = z_stream()
        guard czlib_inflate_init2(&stream, -15) == Z_OK else {
            throw SheafError(.io, file: path, key: member.name, "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        let chunk = min(1 << 20, max(member.compressedSize, 1))
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { input.deallocate() }
        let spill = UnsafeMutablePointer<Bytef>.allocate(capacity: 1)
        defer { spill.deallocate() }
        var consumed = 0
        var produced = 0
        var status = Z_OK
        while status != Z_STREAM_END {
            if prefixOnly && produced == output.count { return }
            if stream.avail_in == 0 {
                let n = min(chunk, member.compressedSize - consumed)
                guard n > 0 else { break }
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: input[0..<n]), at: offset + consumed)
                consumed += n
                stream.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = UInt32(n)
            }
            let room = output.count - produced
            // A full output buffer with input left means the member is larger than it claims.
            if room == 0 {
                stream.next_out = spill
                stream.avail_out = 1
            } else {
                stream.next_out = (output.baseAddress! + produced).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = UInt32(min(room, 1 << 30))
            }
            let before = stream.avail_out
            status = CZlib.inflate(&stream, Z_NO_FLUSH)
            let wrote = Int(before - stream.avail_out)
            if room == 0 && wrote > 0 {
                throw SheafError(.invalidFile, file: path, key: member.name,
                                 "zip member inflates to more than the \(member.size) bytes the directory says")
            }
            produced += wrote
            if status == Z_BUF_ERROR && stream.avail_in == 0 && consumed < member.compressedSize { status = Z_OK; continue }
            if status != Z_OK && status != Z_STREAM_END {
                throw SheafError(.invalidFile, file: path, key: member.name, "zip member does not inflate (zlib error \(status))")
            }
        }
        guard status == Z_STREAM_END, produced == (prefixOnly ? output.count : member.size) else {
            throw SheafError(.invalidFile, file: path, key: member.name,
                             "zip member inflates to \(produced) bytes, directory says \(member.size)")
        }
    }
}
