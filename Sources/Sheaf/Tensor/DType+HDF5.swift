import SheafHDF5

extension DType {
    /// The HDF5 type a tensor of this dtype is stored as (Spec/FORMAT.md, "Dtypes"),
    /// little-endian. It is also the memory type readers convert to.
    func hdf5Type() throws(HDF5Error) -> HDF5Datatype {
        switch self {
        case .bool: try .bool()
        case .uint8, .float8_e4m3fn, .float8_e5m2: try .int(bits: 8, signed: false)
        case .uint16, .bfloat16: try .int(bits: 16, signed: false)
        case .uint32: try .int(bits: 32, signed: false)
        case .uint64: try .int(bits: 64, signed: false)
        case .int8: try .int(bits: 8, signed: true)
        case .int16: try .int(bits: 16, signed: true)
        case .int32: try .int(bits: 32, signed: true)
        case .int64: try .int(bits: 64, signed: true)
        case .float16: try .float(bits: 16)
        case .float32: try .float(bits: 32)
        case .float64: try .float(bits: 64)
        case .complex64: try .complex(bits: 64)
        case .complex128: try .complex(bits: 128)
        }
    }

    /// Whether a dataset of HDF5 type `info` can hold this dtype, in any byte order.
    func matches(_ info: HDF5TypeInfo) -> Bool {
        func isFloat(_ info: HDF5TypeInfo, bits: Int) -> Bool {
            info.size * 8 == bits && info.isIEEEFloat
        }
        switch self {
        case .bool:
            guard info.size == 1, case .enumeration(let base, let members) = info.typeClass,
                  base.value.isPlainInteger else { return false }
            return members == ["FALSE": 0, "TRUE": 1]
        case .uint8, .uint16, .uint32, .uint64, .float8_e4m3fn, .float8_e5m2, .bfloat16:
            return info.typeClass == .integer(signed: false) && info.size == itemSize && info.isPlainInteger
        case .int8, .int16, .int32, .int64:
            return info.typeClass == .integer(signed: true) && info.size == itemSize && info.isPlainInteger
        case .float16: return isFloat(info, bits: 16)
        case .float32: return isFloat(info, bits: 32)
        case .float64: return isFloat(info, bits: 64)
        case .complex64, .complex128:
            let half = itemSize / 2
            guard info.size == itemSize, case .compound(let members) = info.typeClass, members.count == 2,
                  members[0].name == "r", members[1].name == "i",
                  members[0].offset == 0, members[1].offset == half else { return false }
            return isFloat(members[0].type, bits: half * 8) && isFloat(members[1].type, bits: half * 8)
        }
    }

    /// Whether data of HDF5 type `info` is byte-for-byte this dtype's canonical
    /// little-endian layout, so it can be read without conversion.
    func isCanonical(_ info: HDF5TypeInfo) -> Bool {
        guard matches(info) else { return false }
        switch info.typeClass {
        case .compound(let members): return members.allSatisfy { $0.type.order == .little }
        case .enumeration(let base, _): return base.value.order != .big
        default: return info.order == .little || info.size == 1
        }
    }
}

extension DType {
    /// The HDF5 memory type readers of this dtype convert to (its little-endian
    /// file type of Spec/FORMAT.md §5).
    package func hdf5MemoryType() throws(HDF5Error) -> HDF5Datatype { try hdf5Type() }

    /// Whether a dataset of HDF5 type `info` holds values of this dtype (any byte order).
    package func matches(hdf5 info: HDF5TypeInfo) -> Bool { matches(info) }
}

extension MetadataValue {
    /// The HDF5 attribute holding this value (the Sheaf writer's and the plain-HDF5 writers').
    package var hdf5Attribute: HDF5AttributeValue {
        switch self {
        case .string(let v): .string(v)
        case .int(let v): .int(v)
        case .float(let v): .float(v)
        case .bool(let v): .bool(v)
        case .strings(let v): .strings(v)
        case .ints(let v): .ints(v)
        case .floats(let v): .floats(v)
        case .bools(let v): .bools(v)
        }
    }
}
