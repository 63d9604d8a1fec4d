import Glibc
import CHDF5

/// A typed attribute value, as h5py writes Python `str`, `int`, `float`, `bool`
/// and 1-D arrays of them.
package enum HDF5AttributeValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case strings([String])
    case ints([Int64])
    case floats([Double])
    case bools([Bool])
}

/// The attributes of one open group, dataset or file (from its `attributes`
/// property). The identifier stays inside this module: other modules reach
/// attributes only through these calls, each through the funnel.
package struct HDF5Attributes {
    /// Caps the size of any one attribute this layer will read.
    package static let maxAttributeBytes = 64 << 20
    let object: hid_t
    /// `file:/path` of the object, for messages.
    package let path: String

    init(object: hid_t, path: String) { self.object = object; self.path = path }

    /// Names of the attributes on `object`, in name order, read in one pass.
    /// - Throws: a refusal when the object has more than
    ///   ``HDF5ReadLimits/maxAttributes`` attributes.
    /// - Complexity: O(n) in the number of attributes.
    package func names() throws(HDF5Error) -> [String] {
        let count = try HDF5Library.call("H5Oget_info", path) { chdf5_attribute_count(object) }
        guard count <= HDF5ReadLimits.maxAttributes else {
            throw .refused(.limit, path, "the object has \(count) attributes, over the limit of \(HDF5ReadLimits.maxAttributes)")
        }
        final class Collector {
            var names: [String] = []
        }
        let collector = Collector()
        collector.names.reserveCapacity(Int(count))
        let context = Unmanaged.passUnretained(collector).toOpaque()
        try withExtendedLifetime(collector) { () throws(HDF5Error) in
            _ = try HDF5Library.call("H5Aiterate2", path) {
                chdf5_iterate_attributes(object, { name, context in
                    let collector = Unmanaged<Collector>.fromOpaque(context!).takeUnretainedValue()
                    guard collector.names.count < HDF5ReadLimits.maxAttributes else { return 1 }
                    collector.names.append(name.map { String(cString: $0) } ?? "")
                    return 0
                }, context)
            }
        }
        return collector.names
    }

    package func exists(_ name: String) throws(HDF5Error) -> Bool {
        try HDF5Library.call("H5Aexists", "\(path)@\(name)") { H5Aexists(object, name) } > 0
    }

    /// Writes (creates) attribute `name` on `object`.
    package func write(_ value: HDF5AttributeValue, name: String) throws(HDF5Error) {
        let where_ = "\(path)@\(name)"
        switch value {
        case .string(let s): try Self.writeStrings([s], scalar: true, name, object, where_)
        case .strings(let s): try Self.writeStrings(s, scalar: false, name, object, where_)
        case .int(let v): try Self.writeNumbers([v], scalar: true, try .int(bits: 64, signed: true), name, object, where_)
        case .ints(let v): try Self.writeNumbers(v, scalar: false, try .int(bits: 64, signed: true), name, object, where_)
        case .float(let v): try Self.writeNumbers([v], scalar: true, try .float(bits: 64), name, object, where_)
        case .floats(let v): try Self.writeNumbers(v, scalar: false, try .float(bits: 64), name, object, where_)
        case .bool(let v): try Self.writeNumbers([Int8(v ? 1 : 0)], scalar: true, try .bool(), name, object, where_)
        case .bools(let v): try Self.writeNumbers(v.map { Int8($0 ? 1 : 0) }, scalar: false, try .bool(), name, object, where_)
        }
    }

    private static func writeNumbers<T>(_ values: [T], scalar: Bool, _ type: consuming HDF5Datatype,
                                        _ name: String, _ object: hid_t, _ path: String) throws(HDF5Error) {
        let space = try HDF5Dataspace(shape: scalar ? [] : [values.count])
        let attribute = try HDF5Handle("H5Acreate2", path) {
            H5Acreate2(object, name, type.id, space.id, chdf5_p_default(), chdf5_p_default())
        }
        let typeID = type.id
        let attributeID = attribute.rawValue
        try HDF5Library.call("H5Awrite", path) {
            values.withUnsafeBytes { H5Awrite(attributeID, typeID, $0.baseAddress) }
        }
        try attribute.close()
    }

    private static func writeStrings(_ values: [String], scalar: Bool,
                                     _ name: String, _ object: hid_t, _ path: String) throws(HDF5Error) {
        let type = try HDF5Datatype.utf8String()
        let space = try HDF5Dataspace(shape: scalar ? [] : [values.count])
        let attribute = try HDF5Handle("H5Acreate2", path) {
            H5Acreate2(object, name, type.id, space.id, chdf5_p_default(), chdf5_p_default())
        }
        // Keep C strings alive for the write.
        let storage = values.map { strdup($0) }
        defer { storage.forEach { free($0) } }
        let typeID = type.id, attributeID = attribute.rawValue
        try HDF5Library.call("H5Awrite", path) {
            storage.withUnsafeBytes { H5Awrite(attributeID, typeID, $0.baseAddress) }
        }
        try attribute.close()
    }

    /// Reads attribute `name`; `nil` where its type or shape is not one of
    /// ``HDF5AttributeValue``'s (the caller decides whether that is an error).
    package func read(_ name: String) throws(HDF5Error) -> HDF5AttributeValue? {
        let where_ = "\(path)@\(name)"
        let attribute = try HDF5Handle("H5Aopen", where_) { H5Aopen(object, name, chdf5_p_default()) }
        let space = HDF5Dataspace(handle: try HDF5Handle("H5Aget_space", where_) { H5Aget_space(attribute.rawValue) })
        guard let shape = try space.shape(), shape.count <= 1 else { return nil }
        let scalar = shape.isEmpty
        let count = scalar ? 1 : shape[0]
        let fileType = HDF5Datatype(handle: try HDF5Handle("H5Aget_type", where_) { H5Aget_type(attribute.rawValue) })
        let info = try fileType.describe()
        guard count <= Self.maxAttributeBytes / max(info.size, 1) else {
            throw HDF5Error(operation: "H5Aread", object: where_, message: "attribute holds \(count) values, over the limit")
        }
        let attributeID = attribute.rawValue
        switch info.typeClass {
        case .integer(let signed):
            guard info.isPlainInteger else {
                throw .refused(.malformed, where_, "an integer of \(info.precision) significant bits at bit \(info.bitOffset) in \(info.size) bytes, which no conforming writer produces")
            }
            if !signed && info.size == 8 {
                let raw: [UInt64] = try Self.readNumbers(attributeID, try .int(bits: 64, signed: false), count, where_)
                guard raw.allSatisfy({ $0 <= UInt64(Int64.max) }) else { return nil }
                let values = raw.map { Int64($0) }
                return scalar ? .int(values[0]) : .ints(values)
            }
            let values: [Int64] = try Self.readNumbers(attributeID, try .int(bits: 64, signed: true), count, where_)
            return scalar ? .int(values[0]) : .ints(values)
        case .float:
            guard info.isIEEEFloat else {
                throw .refused(.malformed, where_, "a float whose type is not IEEE binary16, binary32 or binary64 (\(info.size) bytes, \(info.precision) significant bits)")
            }
            let values: [Double] = try Self.readNumbers(attributeID, try .float(bits: 64), count, where_)
            return scalar ? .float(values[0]) : .floats(values)
        case .enumeration(let base, let members):
            guard case .integer = base.value.typeClass, members.count == 2,
                  members["FALSE"] == 0, members["TRUE"] == 1 else { return nil }
            let values: [Int8] = try Self.readNumbers(attributeID, try .bool(), count, where_)
            let bools = values.map { $0 != 0 }
            return scalar ? .bool(bools[0]) : .bools(bools)
        case .string(let variable):
            let strings = try Self.readStrings(attributeID, fileType.id, variable: variable, size: info.size,
                                          space: space.id, count: count, where_)
            return scalar ? .string(strings[0]) : .strings(strings)
        default:
            return nil
        }
    }

    private static func readNumbers<T: BitwiseCopyable>(_ attribute: hid_t, _ type: consuming HDF5Datatype,
                                                        _ count: Int, _ path: String) throws(HDF5Error) -> [T] {
        var values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0)
            initialized = count
        }
        let typeID = type.id
        try HDF5Library.call("H5Aread", path) {
            values.withUnsafeMutableBytes { H5Aread(attribute, typeID, $0.baseAddress) }
        }
        return values
    }

    private static func readStrings(_ attribute: hid_t, _ fileType: hid_t, variable: Bool, size: Int,
                                    space: hid_t, count: Int, _ path: String) throws(HDF5Error) -> [String] {
        if variable {
            let memType = try HDF5Datatype.utf8String()
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            let memID = memType.id
            try HDF5Library.call("H5Aread", path) {
                pointers.withUnsafeMutableBytes { H5Aread(attribute, memID, $0.baseAddress) }
            }
            let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
            try HDF5Library.call("H5Dvlen_reclaim", path) {
                pointers.withUnsafeMutableBytes { H5Dvlen_reclaim(memID, space, chdf5_p_default(), $0.baseAddress) }
            }
            return strings
        }
        var buffer = [UInt8](repeating: 0, count: size * count)
        try HDF5Library.call("H5Aread", path) {
            buffer.withUnsafeMutableBytes { H5Aread(attribute, fileType, $0.baseAddress) }
        }
        return (0..<count).map { index in
            let slice = buffer[(index * size)..<((index + 1) * size)]
            let end = slice.firstIndex(of: 0) ?? slice.endIndex
            return String(decoding: slice[slice.startIndex..<end], as: UTF8.self)
        }
    }
}
