
extension SheafFile {
    /// Reads tensors at the offsets the index records, in pieces, for a
    /// caller that places the bytes itself (a GPU load through staging
    /// buffers). It holds the open file's descriptor: use it only while the
    /// ``SheafFile`` it came from is alive.
    package struct DirectReader: Sendable {
        /// One tensor whose bytes lie at an index offset (Spec §8).
        package struct Source: Sendable {
            package let position: Int
            package let key: String
            package let dtype: DType
            package let shape: [Int]
            package let byteCount: Int
            package let offset: Int
            package let checksum: UInt64
            /// The size of the blocks ``blockChecksums`` cover (Spec §9.1), when recorded.
            package let blockSize: Int?
            package let blockChecksums: [UInt64]
        }

        package let path: String
        package let algorithm: ChecksumAlgorithm
        let descriptor: Int32

        /// Reads bytes `start..<start + buffer.count` of `source` into `buffer`.
        /// - Throws: ``SheafError`` `io` when the read fails, `invalidFile` when the file ends first.
        package func read(_ source: Source, from start: Int, into buffer: UnsafeMutableRawBufferPointer) throws(SheafError) {
            try SheafFile.readExactly(descriptor, at: source.offset + start, into: buffer, path: path, key: source.key)
        }

        /// Checks each whole block of `bytes`, which lie at `start` of
        /// `source` (a multiple of its block size), against the index's block
        /// checksums, as a partial read does.
        /// - Throws: ``SheafError`` `checksumMismatch` naming the first block that differs.
        package func checkBlocks(_ bytes: UnsafeRawBufferPointer, of source: Source, at start: Int) throws(SheafError) {
            guard let size = source.blockSize, size > 0 else { return }
            var offset = 0
            while offset < bytes.count {
                let block = UnsafeRawBufferPointer(rebasing: bytes[offset..<min(bytes.count, offset + size)])
                let index = (start + offset) / size
                let expected = index < source.blockChecksums.count ? source.blockChecksums[index] : 0
                guard algorithm.digest(block) == expected, index < source.blockChecksums.count else {
                    throw SheafFile.checksumMismatch(algorithm, expected: expected, path: path, key: source.key,
                                                     block: (index, start + offset..<start + offset + block.count))
                }
                offset += size
            }
        }

        /// Throws the checksum-mismatch error a full read would throw when
        /// `found` is not the index's checksum for `source`.
        package func check(_ found: UInt64, _ source: Source) throws(SheafError) {
            guard found != source.checksum else { return }
            throw SheafFile.checksumMismatch(algorithm, expected: source.checksum, path: path, key: source.key)
        }
    }

    /// A reader of this file's index offsets.
    package var directReader: DirectReader {
        DirectReader(path: path, algorithm: checksumAlgorithm, descriptor: descriptor)
    }

    /// The tensor at `position` as a ``DirectReader/Source``, or nil when it
    /// is read through its dataset instead (no index offset, user metadata,
    /// packed, or tied to an earlier key).
    /// - Throws: ``SheafError`` `invalidIndex` when the recorded bytes run past the end of the file.
    package func directSource(at position: Int) throws(SheafError) -> DirectReader.Source? {
        let record = table.records[position]
        guard record.owner < 0, let offset = record.offset, !record.hasMetadata, record.metadataChecksum == nil else { return nil }
        let entry = table.entry(at: position)
        guard offset >= 0, entry.byteCount <= fileSize - offset else {
            throw SheafError(.invalidIndex, file: path, key: entry.key, "data at \(offset) + \(entry.byteCount) bytes runs past the end of the file")
        }
        return DirectReader.Source(position: position, key: entry.key, dtype: entry.dtype, shape: entry.shape,
                                   byteCount: entry.byteCount, offset: offset, checksum: entry.checksum,
                                   blockSize: entry.blockSize, blockChecksums: entry.blockChecksums)
    }
}
