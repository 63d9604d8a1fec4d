import CZlib
import Sheaf

/// Writes a zip archive of stored members (what `numpy.savez` writes), with
/// zip64 records where sizes or offsets need them.
final class ZipWriter {
    private struct Entry { let name: [UInt8]; let crc: UInt32; let size: Int; let offset: Int }
    private let file: FileWriter
    private var entries: [Entry] = []

    init(file: FileWriter) { self.file = file }

    /// Adds a stored member whose content is `parts` concatenated; with
    /// `alignment`, its data starts at a multiple of it in the file (padding in
    /// an extra field, as PyTorch's writer does, so the data can be mapped).
    func add(name: String, parts: [UnsafeRawBufferPointer], alignment: Int = 1) throws(SheafError) {
        let nameBytes = Array(name.utf8)
        var crc: UInt32 = 0
        var size = 0
        for part in parts {
            crc = ZipCRC.update(crc, part)
            size += part.count
        }
        let offset = file.position
        let zip64 = size >= 0xFFFF_FFFF
        var header = ByteBuilder()
        header.u32(0x0403_4B50)
        header.u16(zip64 ? 45 : 20)
        header.u16(0x0800)  // UTF-8 names
        header.u16(0)  // stored
        header.u32(0); // time, date
        header.u32(Int(crc))
        header.u32(zip64 ? 0xFFFF_FFFF : size)
        header.u32(zip64 ? 0xFFFF_FFFF : size)
        var extra = ByteBuilder()
        if zip64 { extra.u16(1); extra.u16(16); extra.u64(size); extra.u64(size) }
        let unpadded = offset + 30 + nameBytes.count + extra.bytes.count
        if alignment > 1, unpadded % alignment != 0 {
            // An extra field of id "FB" whose payload is padding (4 header bytes + n).
            let padding = (alignment - (unpadded + 4) % alignment) % alignment
            extra.u16(0x4246); extra.u16(padding)
            extra.append([UInt8](repeating: 0x5A, count: padding))
        }
        header.u16(nameBytes.count)
        header.u16(extra.bytes.count)
        header.append(nameBytes)
        header.append(extra.bytes)
        try file.write(header.bytes)
        for part in parts { try file.write(part) }
        entries.append(Entry(name: nameBytes, crc: crc, size: size, offset: offset))
    }

    func finish() throws(SheafError) {
        let directoryStart = file.position
        var directory = ByteBuilder()
        for entry in entries {
            let bigSize = entry.size >= 0xFFFF_FFFF, bigOffset = entry.offset >= 0xFFFF_FFFF
            var extra = ByteBuilder()
            if bigSize || bigOffset {
                extra.u16(1)
                extra.u16((bigSize ? 16 : 0) + (bigOffset ? 8 : 0))
                if bigSize { extra.u64(entry.size); extra.u64(entry.size) }
                if bigOffset { extra.u64(entry.offset) }
            }
            directory.u32(0x0201_4B50)
            directory.u16(45); directory.u16(bigSize || bigOffset ? 45 : 20)
            directory.u16(0x0800); directory.u16(0); directory.u32(0)
            directory.u32(Int(entry.crc))
            directory.u32(bigSize ? 0xFFFF_FFFF : entry.size)
            directory.u32(bigSize ? 0xFFFF_FFFF : entry.size)
            directory.u16(entry.name.count); directory.u16(extra.bytes.count); directory.u16(0)
            directory.u16(0); directory.u16(0); directory.u32(0)
            directory.u32(bigOffset ? 0xFFFF_FFFF : entry.offset)
            directory.append(entry.name)
            directory.append(extra.bytes)
        }
        try file.write(directory.bytes)
        let directorySize = directory.bytes.count
        var end = ByteBuilder()
        let needs64 = entries.count >= 0xFFFF || directoryStart >= 0xFFFF_FFFF || directorySize >= 0xFFFF_FFFF
        if needs64 {
            let record = file.position
            end.u32(0x0606_4B50); end.u64(44); end.u16(45); end.u16(45); end.u32(0); end.u32(0)
            end.u64(entries.count); end.u64(entries.count); end.u64(directorySize); end.u64(directoryStart)
            end.u32(0x0706_4B50); end.u32(0); end.u64(record); end.u32(1)
        }
        end.u32(0x0605_4B50); end.u16(0); end.u16(0)
        end.u16(min(entries.count, 0xFFFF)); end.u16(min(entries.count, 0xFFFF))
        end.u32(min(directorySize, 0xFFFF_FFFF)); end.u32(min(directoryStart, 0xFFFF_FFFF)); end.u16(0)
        try file.write(end.bytes)
    }
}

enum ZipCRC {
    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var value = UInt(crc)
        var done = 0
        while done < bytes.count {
            let n = min(bytes.count - done, 1 << 30)
            value = CZlib.crc32(value, bytes.baseAddress!.advanced(by: done).assumingMemoryBound(to: UInt8.self), UInt32(n))
            done += n
        }
        return UInt32(truncatingIfNeeded: value)
    }
}
