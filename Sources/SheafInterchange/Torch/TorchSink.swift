import Sheaf

/// Writes a PyTorch checkpoint in torch.save's zip format, which
/// `torch.load(path, weights_only=True)` loads: `ARCHIVE/data.pkl` (the state
/// dict as an `OrderedDict` of `torch._utils._rebuild_tensor_v2` calls, the
/// opcodes torch emits), `ARCHIVE/byteorder`, one `ARCHIVE/data/N` member per
/// storage (64-byte aligned, as torch writes them) and `ARCHIVE/version`.
/// Tied keys refer to one storage, so torch loads them sharing it.
struct TorchSink: TensorSink {
    let format = InterchangeFormat.torch
    var keepsTies: Bool { true }
    var keepsStructure: Bool { true }

    /// The typed storage classes torch pickles (with `_rebuild_tensor_v2`) for
    /// the dtypes that have one; the others (uint16-64, float8) are pickled as
    /// torch does, as an `UntypedStorage` with `_rebuild_tensor_v3` and the dtype.
    static let storageClasses: [DType: String] = [
        .float64: "DoubleStorage", .float32: "FloatStorage", .float16: "HalfStorage", .bfloat16: "BFloat16Storage",
        .int64: "LongStorage", .int32: "IntStorage", .int16: "ShortStorage", .int8: "CharStorage",
        .uint8: "ByteStorage", .bool: "BoolStorage", .complex64: "ComplexFloatStorage", .complex128: "ComplexDoubleStorage",
    ]

    func check(_ plan: ExportPlan, path: String) throws(SheafError) -> [String] {
        // With the checkpoint's nesting, the metadata it names goes back in place.
        let placed = Set(plan.structure?.references.metadata ?? [])
        let left = plan.metadata.keys.filter { !placed.contains($0) }
        guard !left.isEmpty else { return [] }
        return ["a PyTorch state dict has no place for metadata: \(left.count) metadata values (\(left.sorted().joined(separator: ", "))) are not written"]
    }

    /// The archive's folder name: the file name without its extension, as torch.save uses.
    static func archiveName(for path: String) -> String {
        let name = AtomicFile.split(path).1
        let stem = name.firstIndex(of: ".").map { String(name[..<$0]) } ?? name
        let safe = stem.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }
        return stem.isEmpty || !safe ? "archive" : stem
    }

    /// The pickle of the checkpoint: one tensor, a list, or an OrderedDict.
    static func pickle(_ plan: ExportPlan, storageKeys: [String]) -> [UInt8] {
        var pickle = PickleWriter()
        func tensor(_ index: Int) {
            let entry = plan.entries[index]
            var strides = [Int](repeating: 1, count: entry.shape.count)
            for axis in entry.shape.indices.dropLast().reversed() { strides[axis] = strides[axis + 1] * max(entry.shape[axis + 1], 1) }
            let typed = storageClasses[entry.dtype]
            pickle.global("torch._utils", typed == nil ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2")
            pickle.mark()
            pickle.mark()  // the persistent id: ('storage', class, key, location, numel)
            pickle.string("storage")
            if let typed { pickle.global("torch", typed) } else { pickle.global("torch.storage", "UntypedStorage") }
            pickle.string(storageKeys[index])
            pickle.string("cpu")
            pickle.int(typed == nil ? entry.byteCount : entry.shape.reduce(1, *))
            pickle.tupleFromMark()
            pickle.persistentID()
            pickle.int(0)
            pickle.tuple(entry.shape)
            pickle.tuple(strides)
            pickle.bool(false)  // requires_grad
            pickle.global("collections", "OrderedDict")  // backward hooks
            pickle.emptyTuple()
            pickle.reduce()
            if typed == nil { pickle.global("torch", entry.dtype.rawValue) }  // _rebuild_tensor_v3's dtype
            pickle.tupleFromMark()
            pickle.reduce()
        }
        var positions: [String: Int] = [:]
        for (index, entry) in plan.entries.enumerated() { positions[entry.key] = index }
        func emit(_ node: CheckpointNode) {
            switch node {
            case .dict(let ordered, let items):
                if ordered {
                    pickle.global("collections", "OrderedDict")
                    pickle.emptyTuple()
                    pickle.reduce()
                } else {
                    pickle.emptyDict()
                }
                if !items.isEmpty {
                    pickle.mark()
                    for item in items { pickle.key(item.key); emit(item.value) }
                    pickle.setItems()
                }
            case .list(let nodes):
                pickle.emptyList()
                if !nodes.isEmpty {
                    pickle.mark()
                    for child in nodes { emit(child) }
                    pickle.appends()
                }
            case .tuple(let nodes):
                if nodes.isEmpty { pickle.emptyTuple() } else {
                    pickle.mark()
                    for child in nodes { emit(child) }
                    pickle.tupleOfMark()
                }
            case .tensor(let key):
                if let index = positions[key] { tensor(index) } else { pickle.none() }  // validated by the writer of the file
            case .metadata(let name, let asTuple):
                if let value = plan.metadata[name] { pickle.value(value, asTuple: asTuple) } else { pickle.none() }
            case .none:
                pickle.none()
            }
        }
        if let structure = plan.structure {
            emit(structure)
            pickle.stop()
            return pickle.bytes
        }
        switch plan.kind {
        case .tensor where plan.entries.count == 1:
            tensor(0)
        case .list:
            pickle.emptyList()
            pickle.mark()
            for index in plan.entries.indices { tensor(index) }
            pickle.appends()
        default:
            pickle.global("collections", "OrderedDict")
            pickle.emptyTuple()
            pickle.reduce()
            pickle.mark()
            for index in plan.entries.indices {
                pickle.string(plan.entries[index].key)
                tensor(index)
            }
            pickle.setItems()
        }
        pickle.stop()
        return pickle.bytes
    }

    func write(_ plan: ExportPlan, to path: String) throws(SheafError) -> [String] {
        // One storage per untied key; a tied key names its owner's.
        var storageKeys: [String] = []
        var byKey: [String: String] = [:]
        for entry in plan.entries {
            let storage = entry.tiedTo.flatMap { byKey[$0] } ?? String(byKey.count)
            byKey[entry.key] = storage
            storageKeys.append(storage)
        }
        let archive = Self.archiveName(for: path)
        let pickle = Self.pickle(plan, storageKeys: storageKeys)
        try atomic(path, plan.options) { (writer: FileWriter) throws(SheafError) in
            let zip = ZipWriter(file: writer)
            func add(_ name: String, _ bytes: [UInt8], alignment: Int = 1) throws(SheafError) {
                try bytes.withUnsafeBytes { buffer in
                    Result { () throws(SheafError) in try zip.add(name: archive + "/" + name, parts: [buffer], alignment: alignment) }
                }.get()
            }
            try add("data.pkl", pickle)
            try add("byteorder", Array("little".utf8))
            var written: Set<String> = []
            for index in plan.entries.indices where written.insert(storageKeys[index]).inserted {
                let tensor = try plan.tensor(index)
                try tensor.withUnsafeBytes { buffer in
                    Result { () throws(SheafError) in
                        try zip.add(name: archive + "/data/" + storageKeys[index], parts: [buffer], alignment: 64)
                    }
                }.get()
            }
            try add("version", Array("3\n".utf8))
            try zip.finish()
        }
        return []
    }
}
