import Sheaf

/// What a PyTorch weights file may ask of the ``Unpickler``: the globals it
/// may name, the storages it may refer to, and the callables it may apply
/// (tensor rebuilds, `OrderedDict`, `torch.Size`, …), each applied by this
/// reader itself. Everything else is refused before anything is built.
extension Unpickler {
    /// Typed storage classes and their dtypes.
    static let storageTypes: [String: DType] = [
        "DoubleStorage": .float64, "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
        "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
        "ByteStorage": .uint8, "BoolStorage": .bool, "ComplexFloatStorage": .complex64,
        "ComplexDoubleStorage": .complex128, "UInt16Storage": .uint16, "UInt32Storage": .uint32,
        "UInt64Storage": .uint64, "Float8_e4m3fnStorage": .float8_e4m3fn, "Float8_e5m2Storage": .float8_e5m2,
    ]

    static let torchDTypes: [String: DType] = [
        "float64": .float64, "double": .float64, "float32": .float32, "float": .float32, "float16": .float16,
        "half": .float16, "bfloat16": .bfloat16, "int64": .int64, "long": .int64, "int32": .int32, "int": .int32,
        "int16": .int16, "short": .int16, "int8": .int8, "uint8": .uint8, "bool": .bool, "complex64": .complex64,
        "complex128": .complex128, "uint16": .uint16, "uint32": .uint32, "uint64": .uint64,
        "float8_e4m3fn": .float8_e4m3fn, "float8_e5m2": .float8_e5m2,
    ]

    /// torch dtypes and storage classes Sheaf has no dtype for: named as such
    /// when a checkpoint uses one.
    static let unsupportedTorchTypes: Set<String> = [
        "complex32", "chalf", "ComplexHalfStorage", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
        "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "QInt8Storage", "QUInt8Storage",
        "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
        "int1", "int2", "int3", "int4", "int5", "int6", "int7", "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
    ]

    static let allowedCallables: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch.storage.UntypedStorage", "torch.UntypedStorage", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2", "_codecs.encode", "torch.Size", "builtins.set", "builtins.frozenset",
        "torch.nn.parameter.Parameter", "torch.Tensor", "torch.device",
    ]

    func global(_ module: String, _ name: String) throws(SheafError) -> PickleValue {
        let full = "\(module).\(name)"
        if module == "torch", Self.storageTypes[name] != nil || Self.torchDTypes[name] != nil { return .global(module, name) }
        if Self.allowedCallables.contains(full) { return .global(module, name) }
        if full == "torch._utils._rebuild_qtensor" {
            throw SheafError(.unknownDType, file: file,
                             "the checkpoint holds quantized tensors (qint8, quint8, qint32 with scale and zero point), which Sheaf does not support; dequantize them (tensor.dequantize()) before saving")
        }
        if module == "torch", Self.unsupportedTorchTypes.contains(name) {
            throw SheafError(.unknownDType, file: file,
                             "the checkpoint uses torch.\(name), a dtype Sheaf does not support (Sheaf has \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if module == "__main__" || module.hasPrefix("torch.nn.modules") || name.first?.isUppercase == true && module != "torch" {
            throw SheafError(.unsupported, file: file,
                             "pickle refers to the class '\(full)': a whole object saved with torch.save(model), which only running its code could rebuild; refused (nothing was executed). Save model.state_dict() instead")
        }
        throw SheafError(.unsupported, file: file,
                         "pickle refers to the global '\(full)', which a weights file does not need; refused (nothing was executed)")
    }

    mutating func persistent(_ pid: PickleValue) throws(SheafError) -> PickleValue {
        guard case .tuple(let parts) = pid, parts.count == 5 || (parts.count == 6 && storageBytes == nil),
              case .string("storage") = parts[0],
              case .global(let module, let typeName) = parts[1], case .string(let key) = parts[2],
              case .int(let count) = parts[4] else {
            throw fail("persistent id is not ('storage', type, key, location, numel)", .unsupported)
        }
        if parts.count == 6, case .none = parts[5] {} else if parts.count == 6 {
            throw fail("legacy storage '\(key)' is a view of another storage (PyTorch before 1.0); re-save it with a current torch.save", .unsupported)
        }
        let dtype: DType
        if typeName == "UntypedStorage" {
            dtype = .uint8  // bytes; _rebuild_tensor_v3 gives the element type
        } else if module == "torch", let typed = Self.storageTypes[typeName] {
            dtype = typed
        } else {
            throw fail("unknown storage type \(module).\(typeName)", .unknownDType)
        }
        if let existing = storages[key] {
            guard existing.dtype == dtype else { throw fail("storage '\(key)' used with two dtypes") }
            return .storage(existing)
        }
        let (needed, overflow) = Int(count).multipliedReportingOverflow(by: dtype.itemSize)
        guard count >= 0, !overflow else { throw fail("storage '\(key)' claims \(count) elements", .limitExceeded) }
        if let storageBytes {
            guard let bytes = storageBytes(key) else {
                throw SheafError(.invalidFile, file: file, key: "data/\(key)", "storage '\(key)' has no data member in the archive")
            }
            guard needed == bytes else {
                throw SheafError(.invalidFile, file: file, key: "data/\(key)",
                                 "storage '\(key)' claims \(count) \(dtype) elements (\(needed) bytes), the data member holds \(bytes) bytes")
            }
        }
        let storage = PickleStorage(key: key, dtype: dtype, count: Int(count))
        storages[key] = storage
        return .storage(storage)
    }

    func ints(_ value: PickleValue, _ what: String) throws(SheafError) -> [Int] {
        guard case .tuple(let items) = value else { throw fail("\(what) must be a tuple") }
        guard items.count <= Shape.maxRank else { throw fail("\(what) has \(items.count) dimensions, over \(Shape.maxRank)", .limitExceeded) }
        var result: [Int] = []
        for item in items {
            guard case .int(let v) = item, v >= 0 else { throw fail("\(what) must hold non-negative ints") }
            result.append(Int(v))
        }
        return result
    }

    /// The storage `storage` seen as elements of `dtype` (for `_rebuild_tensor_v3` on untyped storage).
    mutating func retype(_ storage: PickleStorage, as dtype: DType) throws(SheafError) -> PickleStorage {
        if storage.dtype == dtype { return storage }
        guard storage.dtype == .uint8 else { throw fail("storage '\(storage.key)' is \(storage.dtype), the tensor is \(dtype)") }
        let id = storage.key + "|" + dtype.rawValue
        if let existing = retyped[id] { return existing }
        guard storage.count % dtype.itemSize == 0 else {
            throw fail("storage '\(storage.key)' of \(storage.count) bytes does not hold whole \(dtype) elements")
        }
        let view = PickleStorage(key: storage.key, dtype: dtype, count: storage.count / dtype.itemSize)
        retyped[id] = view
        return view
    }

    mutating func rebuildTensor(_ args: [PickleValue], version3: Bool = false) throws(SheafError) -> PickleValue {
        guard args.count >= 4, case .storage(var storage) = args[0], case .int(let offset) = args[1], offset >= 0 else {
            throw fail("_rebuild_tensor needs (storage, offset, size, stride, …)")
        }
        if version3 {
            guard args.count >= 7, case .global("torch", let name) = args[6], let dtype = Self.torchDTypes[name] else {
                throw fail("_rebuild_tensor_v3 needs a torch dtype as its 7th argument", .unknownDType)
            }
            storage = try retype(storage, as: dtype)
        }
        let shape = try ints(args[2], "tensor size"), strides = try ints(args[3], "tensor stride")
        guard shape.count == strides.count else { throw fail("size and stride differ in rank") }
        _ = try Shape.elementCount(shape)
        // Every element the view reaches must lie inside the storage.
        if !shape.contains(0) {
            var last = Int(offset)
            for (size, stride) in zip(shape, strides) {
                let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
                let (sum, o2) = last.addingReportingOverflow(step)
                guard !o1, !o2 else { throw fail("tensor view overflows") }
                last = sum
            }
            guard last < storage.count else {
                throw fail("tensor view reaches element \(last) of a \(storage.count)-element storage")
            }
        }
        return .tensor(PickleTensor(storage: storage, offset: Int(offset), shape: shape, strides: strides))
    }

    mutating func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws(SheafError) -> PickleValue {
        guard case .global(let module, let name) = callable else {
            throw fail("REDUCE on a \(callable.typeName), which is not an allowed callable", .unsupported)
        }
        guard case .tuple(let args) = arguments else { throw fail("REDUCE arguments must be a tuple") }
        switch "\(module).\(name)" {
        case "collections.OrderedDict":
            let dict = PickleDict(ordered: true)
            containers.append(dict)
            if case .list(let pairs)? = args.first {
                for pair in pairs.items {
                    guard case .tuple(let kv) = pair, kv.count == 2 else { throw fail("OrderedDict items must be pairs") }
                    try insert(kv[0], kv[1], into: dict)
                }
            }
            return .dict(dict)
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            return try rebuildTensor(args)
        case "torch._utils._rebuild_tensor_v3":
            return try rebuildTensor(args, version3: true)
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard case .tensor? = args.first else { throw fail("_rebuild_parameter needs a tensor") }
            return args[0]
        case "torch._tensor._rebuild_from_type_v2":
            guard args.count >= 3, case .global(let fm, let fn) = args[0], case .tuple(let inner) = args[2] else {
                throw fail("_rebuild_from_type_v2 needs (function, type, args, state)")
            }
            return try reduce(.global(fm, fn), .tuple(inner))
        case "torch.Size":
            return args.first ?? .tuple([])
        case "_codecs.encode":
            guard case .string(let text)? = args.first else { throw fail("_codecs.encode needs a string") }
            // Protocol 2 pickles bytes as latin-1 text.
            return .bytes(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        case "builtins.set", "builtins.frozenset":
            if case .list(let list)? = args.first { return .tuple(list.items) }
            return .tuple([])
        case "torch.device":
            if case .string(let s)? = args.first { return .string(s) }
            return .string("cpu")
        default:
            throw SheafError(.unsupported, file: file,
                             "pickle calls '\(module).\(name)', which a weights file does not need; refused (nothing was executed)")
        }
    }
}
