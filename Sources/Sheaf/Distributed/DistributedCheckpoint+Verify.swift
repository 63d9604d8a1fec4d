import SheafHDF5

extension DistributedCheckpoint {
    /// Checks a distributed checkpoint against every rule of Spec/FORMAT.md
    /// §17: the master's index, each shard as an ordinary file (every rule,
    /// every checksum), and the master's virtual datasets, which must map each
    /// tensor exactly onto its pieces in the named shards (so what h5py reads
    /// through them is what this library reads). Returns the problems found.
    /// - Complexity: O(total bytes + objects).
    public static func verify(path: String) -> [VerificationProblem] {
        let checkpoint: DistributedCheckpoint
        do { checkpoint = try DistributedCheckpoint(path: path) } catch {
            return [VerificationProblem(key: error.key, message: error.message, code: error.code)]
        }
        var problems = SheafSet.verify(checkpoint.shards, named: checkpoint.shardNames)
        do {
            try checkpoint.checkVirtualDatasets { key, code, message in
                problems.append(VerificationProblem(key: key, message: message, code: code))
            }
        } catch {
            problems.append(VerificationProblem(key: error.key, message: error.message, code: error.code))
        }
        return problems
    }

    /// Every link in the master's `/tensors` is a virtual dataset of an index
    /// key whose dtype attribute, HDF5 type, extent and mappings are the
    /// entry's. Reads the mappings from the datasets' creation properties;
    /// no source file is opened.
    func checkVirtualDatasets(report: (String?, SheafError.Code, String) -> Void) throws(SheafError) {
        let (handle, _) = try FileDescriptor.openRegularFile(path)
        defer { handle.close() }
        let file = try hdf5(path) { () throws(HDF5Error) in try HDF5File.open(path: Platform.path(of: handle)) }
        let root = try hdf5(path) { () throws(HDF5Error) in try file.root() }
        guard try hdf5(path, { () throws(HDF5Error) in try root.contains(FormatLayout.tensorsGroup) }) else {
            report(nil, .invalidFile, "missing group '/\(FormatLayout.tensorsGroup)'")
            return
        }
        let group = try hdf5(path) { () throws(HDF5Error) in try root.openGroup(FormatLayout.tensorsGroup) }
        let links = try hdf5(path) { () throws(HDF5Error) in try group.links(limit: FormatLayout.maxTensors) }
        var expected: [String: Entry] = [:]
        for entry in entries { expected[try FormatLayout.linkName(for: entry.key)] = entry }
        for (name, kind) in links {
            let object = "/\(FormatLayout.tensorsGroup)/\(name)"
            guard let entry = expected.removeValue(forKey: name) else {
                report(nil, .invalidIndex, "\(object) is not listed in the index")
                continue
            }
            guard kind == .hard else {
                report(entry.key, .unsupported, "\(object) is not a hard link")
                continue
            }
            let found: (shape: [Int], mappings: [HDF5VirtualMapping], type: HDF5TypeInfo, attribute: String?)?
            do {
                found = try hdf5(path, key: entry.key) { () throws(HDF5Error) in
                    try group.virtualMappings(name, limit: DistributedIndex.maxPieces, attribute: FormatLayout.dtypeAttribute)
                }
            } catch {
                report(entry.key, error.code, error.message)
                continue
            }
            guard let found else {
                report(entry.key, .invalidFile, "\(object) is not a virtual dataset; a master maps every tensor onto its shards")
                continue
            }
            if found.attribute != entry.dtype.rawValue {
                report(entry.key, .dtypeMismatch, "dataset attribute \(FormatLayout.dtypeAttribute) is \(found.attribute.map { "'\($0)'" } ?? "missing"), index says '\(entry.dtype)'")
            }
            if let type = try? hdf5(path, { () throws(HDF5Error) in try entry.dtype.hdf5Type().describe() }), type != found.type {
                report(entry.key, .dtypeMismatch, "the virtual dataset's HDF5 type is not the one §5 gives for \(entry.dtype)")
            }
            if found.shape != entry.shape {
                report(entry.key, .shapeMismatch, "the virtual dataset's extent is \(found.shape), index says \(entry.shape)")
            }
            let wanted = entry.pieces.filter { $0.count.reduce(1, *) > 0 }.map {
                HDF5VirtualMapping(file: shardNames[$0.shard], dataset: object, start: $0.start, count: $0.count)
            }
            func order(_ a: HDF5VirtualMapping, _ b: HDF5VirtualMapping) -> Bool { a.start.lexicographicallyPrecedes(b.start) }
            if found.mappings.sorted(by: order) != wanted.sorted(by: order) {
                report(entry.key, .invalidFile, "the virtual dataset's mappings are not the index's pieces (each piece, whole, from \(object) of its shard file)")
            }
        }
        for entry in entries where expected[(try? FormatLayout.linkName(for: entry.key)) ?? ""] != nil {
            report(entry.key, .invalidIndex, "listed in the index but the master has no dataset for it")
        }
    }
}
