import Glibc
import Sheaf

/// A Keras 3 `.keras` archive: a zip of `config.json`, `metadata.json` and
/// `model.weights.h5`. The weights are read like any plain HDF5 file (keys
/// `layers.dense.vars.0`, group attributes as `GROUP@NAME` metadata, the same
/// read policy: only data inside the weights file), and the two JSON files are
/// kept verbatim as `keras_config` and `keras_metadata` metadata (Spec §10.1).
///
/// libhdf5 reads files, not zip members: the weights member is copied into a
/// private temporary folder (mode 0700), opened, and unlinked at once, so
/// nothing is left behind even if the process is killed.
final class KerasArchiveSource: TensorSource {
    static let weightsMember = "model.weights.h5"
    static let configMetadata = "keras_config"
    static let archiveMetadata = "keras_metadata"
    /// Largest JSON member read into metadata.
    static let maxJSON = 16 << 20

    let path: String
    let format = InterchangeFormat.keras
    let metadata: Metadata
    private let weights: HDF5Source

    init(path: String) throws(SheafError) {
        self.path = path
        let archive = try ZipReader(file: try FileReader(path: path))
        guard let member = archive.member(Self.weightsMember) else {
            throw SheafError(.invalidFile, file: path, "a .keras archive without \(Self.weightsMember)")
        }
        var metadata: Metadata = [:]
        for (name, key) in [("config.json", Self.configMetadata), ("metadata.json", Self.archiveMetadata)] {
            guard let json = archive.member(name) else { continue }
            let bytes = try archive.bytes(of: json, limit: Self.maxJSON)
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw SheafError(.invalidFile, file: path, "\(name) in the archive is not UTF-8 text")
            }
            metadata[key] = .string(text)
        }
        weights = try Self.openWeights(member, of: archive, archivePath: path)
        for (name, value) in weights.metadata { metadata[name] = value }
        self.metadata = metadata
    }

    /// Copies the weights member to a private temporary file, opens it, unlinks it.
    private static func openWeights(_ member: ZipReader.Member, of archive: ZipReader, archivePath: String) throws(SheafError) -> HDF5Source {
        let folder = try PrivateTemporaryFolder(about: archivePath)
        defer { withExtendedLifetime(folder) {} }
        let file = folder.file(weightsMember)
        do throws(SheafError) {
            // A stored member is as large as it says; a deflated one at most deflate's 1032:1.
            let count = member.size
            let plausible = member.method == 0 ? count == member.compressedSize : count <= member.compressedSize * 1032 + (1 << 20)
            guard plausible, count <= 1 << 36 else {
                throw SheafError(.limitExceeded, file: archivePath, key: weightsMember,
                                 "the member declares \(count) bytes from \(member.compressedSize) stored, more than it can hold")
            }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
            defer { buffer.deallocate() }
            try archive.read(member, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
            do {
                let descriptor = try FileDescriptor.open(file, O_WRONLY | O_CREAT | O_EXCL, permissions: 0o600)
                defer { descriptor.close() }
                try descriptor.writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            } catch {
                throw error.sheafError("cannot write the archive's weights to", file: file)
            }
            return try HDF5Source(path: file)
        } catch {
            throw error.replacingFile(with: archivePath + " (" + weightsMember + ")")
        }
    }

    var kind: SheafKind { weights.kind }
    var entries: [SourceEntry] { weights.entries }
    var notes: [String] { weights.notes }

    func tensor(at index: Int) throws(SheafError) -> Tensor {
        do { return try weights.tensor(at: index) } catch { throw error.replacingFile(with: path + " (" + Self.weightsMember + ")") }
    }
}
