import Glibc

extension SheafFile {
    /// Reads part of the tensor under `key`: the elements at `ranges[d]` along
    /// each dimension `d` (dimensions past `ranges.count` are taken whole), as
    /// a new tensor of shape `ranges.map(\.count)` + the remaining dimensions.
    ///
    /// A contiguous tensor is read only where the slice lies: with block
    /// checksums (Spec §9.1, written by default for tensors over 1 MiB) only the
    /// blocks the slice touches are read and each is verified before any of it
    /// is returned; without them the whole tensor's bytes are read and checked
    /// against its checksum. A compressed tensor is read whole and checked.
    /// The index is trusted as by ``tensor(_:verifyChecksum:)``; metadata is
    /// not read (``metadata(for:)`` has it).
    ///
    /// A row slice of a row-major matrix touches only its rows' blocks; a
    /// column slice touches every row, so every block.
    ///
    /// - Throws: ``SheafError``: `keyNotFound`; `invalidArgument` for more
    ///   ranges than dimensions or a range outside its dimension;
    ///   `checksumMismatch` naming the block; `invalidIndex`, `io`, `hdf5`.
    /// - Complexity: O(bytes of the blocks the slice touches + elements of the
    ///   slice); memory: the slice plus the blocks read.
    public func tensor(_ key: String, slice ranges: [Range<Int>], verifyChecksum: Bool = true) throws(SheafError) -> Tensor {
        try tensor(key, slice: ranges, verifyChecksum: verifyChecksum, mapped: true)
    }

    /// ``tensor(_:slice:verifyChecksum:)``; `mapped: false` reads with `pread`
    /// as where the file cannot be mapped (so tests reach both paths).
    func tensor(_ key: String, slice ranges: [Range<Int>], verifyChecksum: Bool, mapped: Bool) throws(SheafError) -> Tensor {
        let entry = try entry(key)
        let layout = try TensorSlice(shape: entry.shape, ranges: ranges, itemSize: entry.dtype.itemSize, file: path, key: key)
        var result = Tensor(dtype: entry.dtype, shape: layout.outputShape, storage: TensorStorage(uninitialized: 0))
        if layout.outputBytes > 0 {
            if let offset = entry.offset {
                result = Tensor(dtype: entry.dtype, shape: layout.outputShape,
                                storage: try readSlice(entry, at: offset, layout, verify: verifyChecksum, mapped: mapped))
            } else {
                result = Tensor(dtype: entry.dtype, shape: layout.outputShape, storage: TensorStorage(uninitialized: layout.outputBytes))
                let whole = try tensor(key, verifyChecksum: verifyChecksum)
                whole.withUnsafeBytes { layout.gather(from: $0, into: result.storage.mutableBytes) }
            }
        }
        if entry.dtype == .bool {
            result.withUnsafeMutableBytes { bytes in for i in 0..<bytes.count where bytes[i] > 1 { bytes[i] = 1 } }
        }
        return result
    }

    /// Reads the blocks `layout` touches of a contiguous tensor at `offset`,
    /// verifies each, and returns the slice's bytes: from a mapping of the file
    /// (a slice that is one run of bytes is returned without a copy), or read
    /// with `pread` where the file cannot be mapped.
    private func readSlice(_ entry: Entry, at offset: Int, _ layout: TensorSlice, verify: Bool, mapped: Bool) throws(SheafError) -> TensorStorage {
        // Without block checksums the tensor is one block, checked by its checksum.
        let blockSize = entry.blockSize ?? entry.byteCount
        let blockCount = entry.byteCount / blockSize + (entry.byteCount % blockSize == 0 ? 0 : 1)
        var needed = [Bool](repeating: false, count: blockCount)
        var runs = 0, firstRun = 0
        layout.forEachRun { start, count in
            if runs == 0 { firstRun = start }
            runs += 1
            for block in (start / blockSize)...((start + count - 1) / blockSize) { needed[block] = true }
        }
        func checkBlock(_ index: Int, _ bytes: UnsafeRawBufferPointer) throws(SheafError) {
            let found = checksumAlgorithm.digest(bytes)
            let expected = entry.blockSize == nil ? entry.checksum : entry.blockChecksums[index]
            guard found == expected else {
                throw Self.checksumMismatch(checksumAlgorithm, expected: expected, path: path, key: entry.key,
                                            block: entry.blockSize == nil ? nil : (index, index * blockSize..<index * blockSize + bytes.count))
            }
        }
        if mapped, let mapping = FileMapping(descriptor: descriptor, size: fileSize, populate: false) {
            let tensor = UnsafeRawBufferPointer(start: mapping.base + offset, count: entry.byteCount)
            if verify {
                for index in 0..<blockCount where needed[index] {
                    let start = index * blockSize
                    try checkBlock(index, UnsafeRawBufferPointer(rebasing: tensor[start..<min(entry.byteCount, start + blockSize)]))
                }
            }
            if runs == 1 { return TensorStorage(mapping: mapping, offset: offset + firstRun, byteCount: layout.outputBytes) }
            let output = TensorStorage(uninitialized: layout.outputBytes)
            layout.gather(from: tensor, into: output.mutableBytes)
            return output
        }
        let output = TensorStorage(uninitialized: layout.outputBytes)
        // Consecutive needed blocks are read with one pread each.
        var stretches: [(start: Int, bytes: TensorStorage)] = []
        var block = 0
        while block < blockCount {
            guard needed[block] else { block += 1; continue }
            var last = block
            while last + 1 < blockCount && needed[last + 1] { last += 1 }
            let start = block * blockSize, end = min(entry.byteCount, (last + 1) * blockSize)
            let storage = TensorStorage(uninitialized: end - start)
            try Self.readExactly(descriptor, at: offset + start, into: storage.mutableBytes, path: path, key: entry.key)
            if verify {
                for index in block...last {
                    let from = index * blockSize - start, to = min(entry.byteCount, (index + 1) * blockSize) - start
                    try checkBlock(index, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage.mutableBytes)[from..<to]))
                }
            }
            stretches.append((start, storage))
            block = last + 1
        }
        var written = 0
        var current = 0
        layout.forEachRun { start, count in
            while start >= stretches[current].start + stretches[current].bytes.byteCount { current += 1 }
            let source = stretches[current].bytes.mutableBytes.baseAddress! + (start - stretches[current].start)
            output.mutableBytes.baseAddress!.advanced(by: written).copyMemory(from: source, byteCount: count)
            written += count
        }
        return output
    }
}

/// Where a slice of a row-major tensor lies in its bytes: as runs of
/// contiguous bytes, in increasing order.
struct TensorSlice {
    let shape: [Int]
    let ranges: [Range<Int>]
    let itemSize: Int
    let outputShape: [Int]
    let outputBytes: Int

    init(shape: [Int], ranges given: [Range<Int>], itemSize: Int, file: String, key: String) throws(SheafError) {
        guard given.count <= shape.count else {
            throw SheafError(.invalidArgument, file: file, key: key, "\(given.count) ranges for a tensor of \(shape.count) dimensions \(shape)")
        }
        for (dimension, range) in given.enumerated() where range.lowerBound < 0 || range.upperBound > shape[dimension] {
            throw SheafError(.invalidArgument, file: file, key: key,
                             "range \(range) of dimension \(dimension) lies outside 0..<\(shape[dimension]) (shape \(shape))")
        }
        self.shape = shape
        self.itemSize = itemSize
        ranges = given + shape[given.count...].map { 0..<$0 }
        outputShape = ranges.map(\.count)
        outputBytes = outputShape.reduce(itemSize, *)
    }

    /// Copies the slice's runs out of the whole tensor's bytes, in order.
    func gather(from tensor: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        forEachRunWithSliceOffset { start, offset, count in
            UnsafeMutableRawBufferPointer(rebasing: output[offset..<(offset + count)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: tensor[start..<(start + count)]))
        }
    }

    /// The inverse of ``gather(from:into:)``: writes the slice's elements,
    /// dense in C order in `slice`, to their places in `tensor`.
    func scatter(from slice: UnsafeRawBufferPointer, into tensor: UnsafeMutableRawBufferPointer) {
        forEachRunWithSliceOffset { start, offset, count in
            UnsafeMutableRawBufferPointer(rebasing: tensor[start..<(start + count)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: slice[offset..<(offset + count)]))
        }
    }

    /// ``forEachRun(_:)`` with where each run starts in the dense slice:
    /// `body(byteOffset, sliceByteOffset, byteCount)`.
    private func forEachRunWithSliceOffset(_ body: (Int, Int, Int) -> Void) {
        var offset = 0
        forEachRun { start, count in
            body(start, offset, count)
            offset += count
        }
    }

    /// Calls `body(byteOffset, byteCount)` for each run of the slice, in order.
    /// - Complexity: O(runs); a run spans the innermost dimensions the slice
    ///   takes whole plus the last one it cuts.
    func forEachRun(_ body: (Int, Int) -> Void) {
        guard outputBytes > 0 else { return }
        var strides = [Int](repeating: itemSize, count: shape.count)
        for dimension in stride(from: shape.count - 2, through: 0, by: -1) { strides[dimension] = strides[dimension + 1] * shape[dimension + 1] }
        // The last dimension the slice cuts; all after it are whole.
        guard let cut = ranges.indices.last(where: { ranges[$0] != 0..<shape[$0] }) else {
            body(0, outputBytes)
            return
        }
        let runBytes = ranges[cut].count * strides[cut]
        let base = ranges[cut].lowerBound * strides[cut]
        var index = ranges[..<cut].map(\.lowerBound)
        while true {
            var start = base
            for dimension in 0..<cut { start += index[dimension] * strides[dimension] }
            body(start, runBytes)
            // The next index of the dimensions before `cut`, last fastest.
            var dimension = cut - 1
            while dimension >= 0 {
                index[dimension] += 1
                if index[dimension] < ranges[dimension].upperBound { break }
                index[dimension] = ranges[dimension].lowerBound
                dimension -= 1
            }
            if dimension < 0 { return }
        }
    }
}
