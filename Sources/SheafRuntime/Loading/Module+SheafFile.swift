import Sheaf

extension Module {
    /// Loads this module's parameters and buffers from a Sheaf file, straight
    /// onto their devices: on a GPU, through pinned staging buffers with no
    /// host tensor made (``SheafFile/arrays(_:on:options:)``).
    ///
    /// ```swift
    /// let model = MLP()
    /// let file = try SheafFile(path: "mlp.params")
    /// try model.loadStateDict(from: file, device: Device.tryGPU())
    /// ```
    ///
    /// The checks are ``loadStateDict(_:strict:)``'s, made from the index
    /// before any byte is read; every tensor's checksum is verified as it is
    /// read. Nothing changes in the module unless every tensor loads.
    ///
    /// - Parameters:
    ///   - device: where every parameter and buffer ends up (those the file
    ///     does not hold are moved there too); nil leaves each on its device.
    /// - Returns: the keys the module has but the file lacks, and the keys the
    ///   file has but the module lacks.
    /// - Complexity: O(bytes of the tensors the module takes).
    @discardableResult
    public func loadStateDict(from file: borrowing SheafFile, strict: Bool = true, device: Device? = nil,
                              options: DeviceLoadOptions = .init()) throws -> (missing: [String], unexpected: [String]) {
        let entries = file.entries
        let plan = try planLoad(keys: file.keys, strict: strict, describe: { key in
            file.position(of: key).map { (entries[$0].shape, entries[$0].dtype) }
        }, sameValues: { first, second in
            // One stored tensor in the file, or the same bytes by the index's checksums.
            guard let a = file.position(of: first), let b = file.position(of: second) else { return false }
            let (x, y) = (entries[a], entries[b])
            return file.storedPosition(of: a) == file.storedPosition(of: b)
                || (x.dtype == y.dtype && x.byteCount == y.byteCount && x.checksum == y.checksum)
        })
        try plan.throwIfFailed(typeName)
        // One read per device, every tensor for it at once.
        var byDevice: [Device: [(AnyTensorSlot, Int)]] = [:]
        for (key, slot) in plan.loads {
            guard let position = file.position(of: key) else { continue }
            byDevice[device ?? slot.value.device, default: []].append((slot, position))
        }
        var updates: [(AnyTensorSlot, NDArray)] = []
        for (target, loads) in byDevice.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            let arrays = try FileArrays.load(file, positions: loads.map(\.1), on: target, options: options)
            for ((slot, _), array) in zip(loads, arrays) {
                let dtype = slot.value.dtype
                updates.append((slot, array.dtype == dtype ? array : try NDArray(try array.tensor().converted(to: dtype), on: target)))
            }
        }
        var moved = Set(updates.map { $0.0.identity })
        if let device {
            for (_, slot) in try namedTensors() where moved.insert(slot.identity).inserted { updates.append((slot, try slot.value.to(device))) }
        }
        for (slot, value) in updates { slot.value = value }
        return (plan.missing, plan.unexpected)
    }
}
