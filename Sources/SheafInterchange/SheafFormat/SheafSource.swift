import Sheaf

/// A Sheaf file, through the lazy ``SheafFile`` reader.
final class SheafSource: TensorSource {
    let path: String
    let format = InterchangeFormat.sheaf
    let kind: SheafKind
    let metadata: Metadata
    let entries: [SourceEntry]
    private let file: SheafFile

    init(file: consuming SheafFile) throws(SheafError) {
        path = file.path
        // Every dataset is checked against the index and the read policy (no data
        // read), so listing a file refuses what reading it would.
        _ = try file.checkDatasets(file.entries.indices.filter { file.entries[$0].tiedTo == nil })
        kind = file.kind
        metadata = file.metadata
        entries = file.entries.map {
            SourceEntry(key: $0.key, dtype: $0.dtype, shape: $0.shape, tiedTo: $0.tiedTo, storage: $0.storage.rawValue)
        }
        self.file = file
    }

    func tensor(at index: Int) throws(SheafError) -> Tensor { try file.tensor(entries[index].key) }

    var formatVersion: String? { file.version }
    var structure: CheckpointNode? { file.structure }

    var checksums: [String: String] {
        var result: [String: String] = [:]
        for entry in file.entries {
            result[entry.key] = "\(file.checksumAlgorithm.rawValue):\(file.checksumAlgorithm.format(entry.checksum))"
        }
        return result
    }

    func verify() -> [VerificationProblem]? { file.verify() }
}
