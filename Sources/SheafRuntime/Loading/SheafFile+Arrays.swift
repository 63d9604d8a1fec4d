import Sheaf

extension SheafFile {
    /// The tensors under `keys` (every key when nil) as arrays on `device`,
    /// read straight from the file: on a GPU, each tensor stored at an index
    /// offset is read into pinned staging buffers and copied into device
    /// memory while the next bytes are read (``DeviceLoadOptions``), with no
    /// host tensor made; bfloat16 and float16 are widened to float32 on the
    /// device. Other tensors (packed, with metadata, compressed) are read on
    /// the host and copied.
    ///
    /// Floating-point tensors arrive as float32, the dtype the runtime
    /// computes in; bool tensors as bool. Tied keys give the same array.
    ///
    /// - Throws: ``SheafError`` (`keyNotFound`, `checksumMismatch`, `io`, …)
    ///   for the file, ``RuntimeError`` for the device (`deviceUnavailable`,
    ///   `dtypeUnsupported` for integer tensors on a GPU, `cuda`). Nothing is
    ///   returned from a load that fails.
    /// - Complexity: O(bytes of the tensors asked for).
    public func arrays(_ keys: [String]? = nil, on device: Device, options: DeviceLoadOptions = .init()) throws -> [String: NDArray] {
        let positions = try keys.map { try $0.map { key throws(SheafError) in try existingPosition(of: key) } } ?? Array(entries.indices)
        let arrays = try FileArrays.load(self, positions: positions, on: device, options: options)
        var result: [String: NDArray] = [:]
        for (position, array) in zip(positions, arrays) { result[entries[position].key] = array }
        return result
    }
}

/// Reads a file's tensors into arrays on a device, the GPU path through
/// ``CUDALoader``.
enum FileArrays {
    /// Arrays for the entries at `positions`, in order (floating point as float32).
    static func load(_ file: borrowing SheafFile, positions: [Int], on device: Device,
                     options: DeviceLoadOptions) throws -> [NDArray] {
        // Tied keys are read once, through their owner.
        let entries = file.entries
        let owners = positions.map { file.storedPosition(of: $0) }
        var unique: [Int] = []
        var seen = Set<Int>()
        for owner in owners where seen.insert(owner).inserted { unique.append(owner) }
        var arrays: [Int: NDArray] = [:]
        if case .cuda = device {
            let backend = try CUDABackend.require(device)
            var direct: [SheafFile.DirectReader.Source] = []
            for position in unique {
                if let source = try file.directSource(at: position), CUDALoader.target(for: source.dtype) != nil {
                    direct.append(source)
                } else {
                    arrays[position] = try NDArray(try hostTensor(file, position, options), on: device)
                }
            }
            let loaded = try CUDALoader.load(direct, reader: file.directReader, backend: backend, options: options)
            for (source, array) in zip(direct, loaded) { arrays[source.position] = array }
        } else if Set(positions).count == entries.count {
            // The whole file: one mapping, checksums on every core.
            let stateDict = try file.stateDict(verifyChecksums: options.verifyChecksums)
            for position in unique {
                guard let tensor = stateDict[entries[position].key] else { continue }
                arrays[position] = NDArray(try widened(tensor))
            }
        } else {
            for position in unique { arrays[position] = NDArray(try hostTensor(file, position, options)) }
        }
        return try owners.map { owner in
            guard let array = arrays[owner] else { throw RuntimeError(.invalidArgument, "\(file.path): no array was read for \(entries[owner].key)") }
            return array
        }
    }

    /// The tensor at `position` read on the host, floating point as float32.
    static func hostTensor(_ file: borrowing SheafFile, _ position: Int, _ options: DeviceLoadOptions) throws -> Tensor {
        try widened(file.tensor(file.entries[position].key, verifyChecksum: options.verifyChecksums))
    }

    /// Floating point as float32, anything else as it is.
    static func widened(_ tensor: Tensor) throws -> Tensor {
        tensor.dtype.isFloatingPoint && tensor.dtype != .float32 ? try tensor.converted(to: .float32) : tensor
    }
}
