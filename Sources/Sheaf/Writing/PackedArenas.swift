import SheafHDF5

/// The packed small tensors of one save (Spec §18): their bytes gathered per
/// dtype, each tensor at a multiple of 64 bytes, and written as arena datasets
/// `/_sheaf_packed/0`, `/1`, … whenever ``flushBytes`` are pending and at the
/// end; then one region reference and one key per packed entry.
///
/// Memory: at most ``flushBytes`` plus one tensor below the packing threshold.
struct PackedArenas {
    /// Pending bytes that make a flush: bounds a streaming save's memory.
    static let flushBytes = 16 << 20

    private var pending: [DType: [UInt8]] = [:]
    /// Dtypes in the order their first pending tensor came, so arenas are
    /// numbered the same way for the same input (§12).
    private var order: [DType] = []
    /// Index positions waiting for their arena, with their byte start in the pending buffer.
    private var waiting: [(position: Int, dtype: DType, start: Int)] = []
    private var pendingBytes = 0
    private var arenas = 0
    /// Arena path → length in elements, for the region references.
    private var extents: [String: Int] = [:]

    var isEmpty: Bool { arenas == 0 && waiting.isEmpty }

    /// Adds `tensor`'s bytes for the index entry at `position`; flushes when
    /// enough is pending.
    mutating func add(_ tensor: Tensor, position: Int, root: borrowing HDF5Group, index: inout [IndexEntry],
                      destination: String) throws(SheafError) {
        if pending[tensor.dtype] == nil { order.append(tensor.dtype) }
        var buffer = pending[tensor.dtype, default: []]
        pending[tensor.dtype] = nil  // unique, so appending does not copy
        let before = buffer.count
        let start = (before + FormatLayout.alignment - 1) / FormatLayout.alignment * FormatLayout.alignment
        buffer.append(contentsOf: repeatElement(0, count: start - before))
        tensor.withUnsafeBytes { buffer.append(contentsOf: $0) }
        pendingBytes += buffer.count - before
        pending[tensor.dtype] = buffer
        waiting.append((position, tensor.dtype, start))
        if pendingBytes >= Self.flushBytes { try flush(root: root, index: &index, destination: destination) }
    }

    /// Writes one arena per dtype pending and fills in its entries' offset,
    /// arena and start.
    mutating func flush(root: borrowing HDF5Group, index: inout [IndexEntry], destination: String) throws(SheafError) {
        guard !waiting.isEmpty else { return }
        var placed: [DType: (arena: Int, offset: Int)] = [:]
        let first = arenas == 0
        try hdf5(destination) { () throws(HDF5Error) in
            let group = first ? try root.createGroup(FormatLayout.packedGroup) : try root.openGroup(FormatLayout.packedGroup)
            for dtype in order {
                guard let bytes = pending[dtype] else { continue }
                let name = String(arenas)
                let length = bytes.count / dtype.itemSize
                let data = Tensor(bytes)
                let dataset = try HDF5Dataset.create(in: group, name: name, type: try dtype.hdf5Type(), shape: [length],
                                                     storage: .contiguous, data: data.storage.bytes)
                try dataset.attributes.write(.string(dtype.rawValue), name: FormatLayout.dtypeAttribute)
                guard let offset = try dataset.offset() else {
                    throw HDF5Error(operation: "H5Dget_offset", object: dataset.path, message: "no raw data was allocated")
                }
                try dataset.close()
                placed[dtype] = (arenas, Int(offset))
                extents["/\(FormatLayout.packedGroup)/\(name)"] = length
                arenas += 1
            }
            try group.close()
        }
        for (position, dtype, start) in waiting {
            guard let (arena, offset) = placed[dtype] else { continue }
            index[position].offset = offset + start
            index[position].arena = arena
            index[position].arena_start = start / dtype.itemSize
        }
        pending = [:]
        order = []
        waiting = []
        pendingBytes = 0
    }

    /// After the last flush, with every entry complete (ties included):
    /// `/_sheaf_packed` gets `refs` (a region reference per packed entry, in
    /// index order) and `keys` (those entries' keys).
    func finish(root: borrowing HDF5Group, index: [IndexEntry], destination: String) throws(SheafError) {
        guard arenas > 0 else { return }
        var targets: [HDF5RegionTarget] = []
        var keys: [String] = []
        for entry in index where entry.storage == StorageKind.packed.rawValue {
            guard let arena = entry.arena, let start = entry.arena_start, let dtype = DType.named[entry.dtype] else { continue }
            targets.append(HDF5RegionTarget(dataset: "/\(FormatLayout.packedGroup)/\(arena)", start: start,
                                            count: entry.nbytes / dtype.itemSize))
            keys.append(entry.key)
        }
        try hdf5(destination) { () throws(HDF5Error) in
            let group = try root.openGroup(FormatLayout.packedGroup)
            try group.createRegionReferences(FormatLayout.packedReferences, targets: targets, extents: extents)
            try group.createStrings(FormatLayout.packedKeys, keys)
            try group.close()
        }
    }
}
