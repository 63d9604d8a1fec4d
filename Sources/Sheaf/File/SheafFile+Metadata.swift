import SheafHDF5

extension SheafFile {
    /// The metadata attributes among `names` (those not reserved by the format), typed (§7).
    package static func readMetadata(_ attributes: HDF5Attributes, names: [String], path: String, key: String?) throws(SheafError) -> Metadata {
        var metadata: Metadata = [:]
        for name in names where !name.hasPrefix(FormatLayout.reservedPrefix) {
            let value: HDF5AttributeValue?
            do { value = try attributes.read(name) } catch {
                if error.refusal == .malformed {
                    throw SheafError(.invalidMetadata, file: path, key: key, "metadata attribute '\(name)' is \(error.message)")
                }
                throw SheafError.hdf5(error, file: path, key: key)
            }
            switch value {
            case .string(let v)?: metadata[name] = .string(v)
            case .int(let v)?: metadata[name] = .int(v)
            case .float(let v)?: metadata[name] = .float(v)
            case .bool(let v)?: metadata[name] = .bool(v)
            case .strings(let v)?: metadata[name] = .strings(v)
            case .ints(let v)?: metadata[name] = .ints(v)
            case .floats(let v)?: metadata[name] = .floats(v)
            case .bools(let v)?: metadata[name] = .bools(v)
            case nil: continue  // attributes of other types are not metadata; readers ignore them
            }
        }
        return metadata
    }
}
