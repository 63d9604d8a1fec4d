import CHDF5

/// An HDF5 datatype the caller owns.
package struct HDF5Datatype: ~Copyable {
    package let handle: HDF5Handle
    var id: hid_t { handle.rawValue }

    init(handle: consuming HDF5Handle) { self.handle = handle }

    /// A copy of a predefined type, so the result is always safe to close.
    static func copy(_ predefined: hid_t, _ name: String) throws(HDF5Error) -> HDF5Datatype {
        HDF5Datatype(handle: try HDF5Handle("H5Tcopy", name) { H5Tcopy(predefined) })
    }

    package static func int(bits: Int, signed: Bool) throws(HDF5Error) -> HDF5Datatype {
        let id: hid_t
        switch (bits, signed) {
        case (8, true): id = chdf5_t_std_i8le()
        case (16, true): id = chdf5_t_std_i16le()
        case (32, true): id = chdf5_t_std_i32le()
        case (64, true): id = chdf5_t_std_i64le()
        case (8, false): id = chdf5_t_std_u8le()
        case (16, false): id = chdf5_t_std_u16le()
        case (32, false): id = chdf5_t_std_u32le()
        default: id = chdf5_t_std_u64le()
        }
        return try copy(id, "\(signed ? "int" : "uint")\(bits) type")
    }

    package static func float(bits: Int) throws(HDF5Error) -> HDF5Datatype {
        switch bits {
        case 16: return HDF5Datatype(handle: try HDF5Handle("H5Tcopy", "float16 type") { chdf5_create_float16_type() })
        case 32: return try copy(chdf5_t_ieee_f32le(), "float32 type")
        default: return try copy(chdf5_t_ieee_f64le(), "float64 type")
        }
    }

    package static func bool() throws(HDF5Error) -> HDF5Datatype {
        HDF5Datatype(handle: try HDF5Handle("H5Tenum_create", "bool type") { chdf5_create_bool_type() })
    }

    package static func complex(bits: Int) throws(HDF5Error) -> HDF5Datatype {
        HDF5Datatype(handle: try HDF5Handle("H5Tcreate", "complex\(bits) type") {
            chdf5_create_complex_type(Int32(bits))
        })
    }

    package static func utf8String() throws(HDF5Error) -> HDF5Datatype {
        HDF5Datatype(handle: try HDF5Handle("H5Tcopy", "string type") { chdf5_create_vlen_utf8_type() })
    }

    /// A compound type of `size` bytes with `members` at their offsets: what
    /// h5py reads as a NumPy structured array.
    package static func compound(size: Int, members: [HDF5CompoundMember]) throws(HDF5Error) -> HDF5Datatype {
        let type = HDF5Datatype(handle: try HDF5Handle("H5Tcreate", "compound type") {
            chdf5_prepare()
            return H5Tcreate(H5T_COMPOUND, size)
        })
        let typeID = type.id
        for member in members {
            let memberType: HDF5Datatype
            switch member.kind {
            case .integer(let bits, let signed):
                memberType = try .int(bits: bits, signed: signed)
            case .enumeration(let names):
                let base = try HDF5Datatype.int(bits: 8, signed: false)
                let baseID = base.id
                memberType = HDF5Datatype(handle: try HDF5Handle("H5Tenum_create", member.name) { H5Tenum_create(baseID) })
                let enumID = memberType.id
                for (value, name) in names.enumerated() {
                    var raw = UInt8(value)
                    try HDF5Library.call("H5Tenum_insert", name) { H5Tenum_insert(enumID, name, &raw) }
                }
            }
            let memberID = memberType.id
            try HDF5Library.call("H5Tinsert", member.name) { H5Tinsert(typeID, member.name, member.offset, memberID) }
        }
        return type
    }

    /// Whether this type and `other` are the same type (`H5Tequal`: class,
    /// size, byte order, and for compounds and enumerations every member's
    /// name, offset or value, and type): one call, for checking a type a file
    /// declares against the one expected.
    package func isEqual(to other: borrowing HDF5Datatype) throws(HDF5Error) -> Bool {
        let id = id, otherID = other.id
        return try HDF5Library.call("H5Tequal", handle.object) { H5Tequal(id, otherID) } > 0
    }

    /// A structural description of this type, for matching against what a file
    /// declares.
    package func describe() throws(HDF5Error) -> HDF5TypeInfo {
        try HDF5TypeInfo(id: id, object: handle.object, depth: 0)
    }
}

/// One member of a compound type made by ``HDF5Datatype/compound(size:members:)``.
package struct HDF5CompoundMember: Sendable {
    package enum Kind: Sendable {
        /// A little-endian integer of `bits` bits.
        case integer(bits: Int, signed: Bool)
        /// An enumeration of 8-bit unsigned integers: `names[i]` has the value `i`.
        case enumeration([String])
    }
    package var name: String
    package var offset: Int
    package var kind: Kind

    package init(_ name: String, at offset: Int, _ kind: Kind) {
        self.name = name
        self.offset = offset
        self.kind = kind
    }
}

/// What an HDF5 datatype is, read field by field.
package struct HDF5TypeInfo: Sendable, Equatable {
    package enum Class: Sendable, Equatable {
        case integer(signed: Bool)
        case float(signPosition: Int, exponentPosition: Int, exponentSize: Int,
                   mantissaPosition: Int, mantissaSize: Int, exponentBias: Int)
        case string(variable: Bool)
        case enumeration(base: HDF5TypeInfoBox, members: [String: Int64])
        case compound(members: [Member])
        case other(Int32)
    }
    package struct Member: Sendable, Equatable {
        package var name: String
        package var offset: Int
        package var type: HDF5TypeInfo
    }
    package enum ByteOrder: Sendable, Equatable { case little, big, none }

    package var typeClass: Class
    package var size: Int
    package var order: ByteOrder
    /// Significant bits, and the offset of the first one (integers and floats).
    package var precision: Int
    package var bitOffset: Int

    /// Whether this is an IEEE 754 binary16, binary32 or binary64 type with
    /// every bit significant: the only floats Sheaf reads, since libhdf5's
    /// conversion of arbitrary float layouts trusts fields a file can forge.
    package var isIEEEFloat: Bool {
        guard case .float(let s, let ep, let es, let mp, let ms, let bias) = typeClass,
              precision == size * 8, bitOffset == 0 else { return false }
        switch size {
        case 2: return (s, ep, es, mp, ms, bias) == (15, 10, 5, 0, 10, 15)
        case 4: return (s, ep, es, mp, ms, bias) == (31, 23, 8, 0, 23, 127)
        case 8: return (s, ep, es, mp, ms, bias) == (63, 52, 11, 0, 52, 1023)
        default: return false
        }
    }

    /// Whether this is an integer type with every bit significant.
    package var isPlainInteger: Bool {
        guard case .integer = typeClass else { return false }
        return precision == size * 8 && bitOffset == 0 && [1, 2, 4, 8].contains(size)
    }

    init(id: hid_t, object: String, depth: Int) throws(HDF5Error) {
        guard depth < 8 else {
            throw HDF5Error(operation: "H5Tget_class", object: object, message: "datatype nested too deeply")
        }
        let cls = try HDF5Library.call("H5Tget_class", object) { H5Tget_class(id).rawValue }
        size = Int(try HDF5Library.call("H5Tget_size", object, failed: { $0 == 0 }) { H5Tget_size(id) })
        let rawOrder = try HDF5Library.call("H5Tget_order", object, failed: { _ in false }) { H5Tget_order(id) }
        order = rawOrder == H5T_ORDER_LE ? .little : rawOrder == H5T_ORDER_BE ? .big : .none
        if cls == H5T_INTEGER.rawValue || cls == H5T_FLOAT.rawValue {
            // A forged type can make these fail; 0 and -1 then mark it malformed.
            precision = Int(try HDF5Library.call("H5Tget_precision", object, failed: { _ in false }) { H5Tget_precision(id) })
            bitOffset = Int(try HDF5Library.call("H5Tget_offset", object, failed: { _ in false }) { H5Tget_offset(id) })
        } else {
            precision = size * 8
            bitOffset = 0
        }
        switch cls {
        case H5T_INTEGER.rawValue:
            let sign = try HDF5Library.call("H5Tget_sign", object) { H5Tget_sign(id).rawValue }
            typeClass = .integer(signed: sign == H5T_SGN_2.rawValue)
        case H5T_FLOAT.rawValue:
            var spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0
            try HDF5Library.call("H5Tget_fields", object) {
                H5Tget_fields(id, &spos, &epos, &esize, &mpos, &msize)
            }
            let bias = Int(try HDF5Library.call("H5Tget_ebias", object, failed: { _ in false }) { H5Tget_ebias(id) })
            typeClass = .float(signPosition: spos, exponentPosition: epos, exponentSize: esize,
                               mantissaPosition: mpos, mantissaSize: msize, exponentBias: bias)
        case H5T_STRING.rawValue:
            let variable = try HDF5Library.call("H5Tis_variable_str", object) { H5Tis_variable_str(id) } > 0
            typeClass = .string(variable: variable)
        case H5T_ENUM.rawValue:
            let base = HDF5Datatype(handle: try HDF5Handle("H5Tget_super", object) { H5Tget_super(id) })
            let baseInfo = try HDF5TypeInfo(id: base.id, object: object, depth: depth + 1)
            let count = try HDF5Library.call("H5Tget_nmembers", object) { H5Tget_nmembers(id) }
            var members: [String: Int64] = [:]
            guard count <= 1024 else {
                throw HDF5Error(operation: "H5Tget_nmembers", object: object, message: "enumeration has \(count) members")
            }
            for index in 0..<UInt32(count) {
                let name = try memberName(id, index, object)
                var value: Int64 = 0
                // Read the member's value converted to int64.
                let i64 = try HDF5Datatype.int(bits: 64, signed: true)
                var raw = [UInt8](repeating: 0, count: max(baseInfo.size, 8))
                try HDF5Library.call("H5Tget_member_value", object) { H5Tget_member_value(id, index, &raw) }
                try HDF5Library.call("H5Tconvert", object) {
                    H5Tconvert(base.id, i64.id, 1, &raw, nil, chdf5_p_default())
                }
                withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: raw[0..<8]) }
                members[name] = value
            }
            typeClass = .enumeration(base: HDF5TypeInfoBox(baseInfo), members: members)
        case H5T_COMPOUND.rawValue:
            let count = try HDF5Library.call("H5Tget_nmembers", object) { H5Tget_nmembers(id) }
            guard count <= 1024 else {
                throw HDF5Error(operation: "H5Tget_nmembers", object: object, message: "compound has \(count) members")
            }
            var members: [Member] = []
            for index in 0..<UInt32(count) {
                let name = try memberName(id, index, object)
                let offset = try HDF5Library.call("H5Tget_member_offset", object, failed: { _ in false }) {
                    H5Tget_member_offset(id, index)
                }
                let member = HDF5Datatype(handle: try HDF5Handle("H5Tget_member_type", object) {
                    H5Tget_member_type(id, index)
                })
                members.append(Member(name: name, offset: offset,
                                      type: try HDF5TypeInfo(id: member.id, object: object, depth: depth + 1)))
            }
            typeClass = .compound(members: members)
        default:
            typeClass = .other(cls)
        }
    }
}

/// Boxes a type description so enumerations can refer to their base type.
package final class HDF5TypeInfoBox: Sendable, Equatable {
    package let value: HDF5TypeInfo
    init(_ value: HDF5TypeInfo) { self.value = value }
    package static func == (a: HDF5TypeInfoBox, b: HDF5TypeInfoBox) -> Bool { a.value == b.value }
}

private func memberName(_ id: hid_t, _ index: UInt32, _ object: String) throws(HDF5Error) -> String {
    let pointer = try HDF5Library.call("H5Tget_member_name", object, failed: { $0 == nil }) {
        H5Tget_member_name(id, index)
    }
    defer { _ = try? HDF5Library.call("H5free_memory", object) { H5free_memory(pointer) } }
    return String(cString: pointer!)
}
