import Sheaf
import SheafHDF5

/// Opening files of any supported format, and writing them.
public enum Interchange {
    /// What a raw input needs: its dtype, shape and byte order.
    public struct RawLayout: Sendable {
        public var dtype: DType
        public var shape: [Int]
        public var bigEndian: Bool
        public init(dtype: DType, shape: [Int], bigEndian: Bool) {
            self.dtype = dtype; self.shape = shape; self.bigEndian = bigEndian
        }
    }

    /// The format of the file at `path`, from its content (never its extension).
    /// For a model folder or a sharded checkpoint's index, the shards' format.
    /// - Throws: ``SheafError`` (`unsupported`) when the content matches no format.
    public static func detect(path: String) throws(SheafError) -> InterchangeFormat {
        if ModelFolder.isFolder(path) { return try openFolder(path, format: nil).format }
        return try detectAndOpen(path: path).format
    }

    /// Detects the format and keeps a source the detection already opened (a
    /// Sheaf file, a sharded checkpoint's index), so it is not opened again.
    private static func detectAndOpen(path: String) throws(SheafError) -> (format: InterchangeFormat, source: (any TensorSource)?) {
        let file = try FileReader(path: path)
        let prefix = try file.bytes(at: 0, count: min(file.size, 64))
        if file.descriptor.hasHDF5Signature(size: file.size) {
            do { return (.sheaf, try SheafSource(file: try SheafFile(path: path))) } catch where error.code == .notSheaf {
                return (.hdf5, nil)
            } catch {
                return (.sheaf, nil)  // a damaged Sheaf file: let the Sheaf reader report it
            }
        }
        if prefix.starts(with: NumPyFormat.magic) { return (.npy, nil) }
        if ZipReader.looksLikeZip(prefix) {
            let archive = try ZipReader(file: file)
            if archive.members.contains(where: { $0.name.hasSuffix("/data.pkl") }) { return (.torch, nil) }
            if !archive.members.isEmpty, archive.members.allSatisfy({ $0.name.hasSuffix(".npy") }) { return (.npz, nil) }
            if archive.member(KerasArchiveSource.weightsMember) != nil { return (.keras, nil) }
            throw SheafError(.unsupported, file: path, "a zip archive that is neither a PyTorch checkpoint, an .npz file nor a .keras archive")
        }
        if SafetensorsFormat.looksLikeSafetensors(prefix, size: file.size) { return (.safetensors, nil) }
        if ShardIndex.mayBeIndex(prefix) {
            if SheafSet.isSetIndex(path: path) { return (.sheaf, try SheafSetSource(path: path)) }
            let sharded = try ShardedSource(index: path, path: path)
            return (sharded.format, sharded)
        }
        if prefix.count >= 2, prefix[0] == 0x80, prefix[1] <= 5 {
            // PROTO n, LONG1 10: the legacy torch.save's magic number.
            if prefix.dropFirst(2).starts(with: [0x8A, 0x0A] + TorchSource.legacyMagic) { return (.torch, nil) }
            throw SheafError(.unsupported, file: path,
                             "a bare pickle that is not a PyTorch checkpoint (no torch magic number); Sheaf reads no other pickles")
        }
        throw SheafError(.unsupported, file: path,
                         "cannot tell the format from the content (not HDF5, NumPy, zip, safetensors, a sharded checkpoint's index); for raw bytes give the format raw with its dtype, shape and byte order",
                         remedy: .rawLayout)
    }

    /// Whether the file at `path` starts as a JSON object does.
    private static func startsLikeIndex(_ path: String) throws(SheafError) -> Bool {
        let reader = try FileReader(path: path)
        return ShardIndex.mayBeIndex(try reader.bytes(at: 0, count: min(reader.size, 64)))
    }

    /// A Hugging Face model folder: its weights (one file, or shards and their
    /// index) and its configuration files as metadata.
    private static func openFolder(_ path: String, format: InterchangeFormat?) throws(SheafError) -> any TensorSource {
        let weights = try ModelFolder.weights(in: path)
        let source: any TensorSource
        if weights.hasSuffix(".index.json") {
            source = try ShardedSource(index: weights, path: path)
        } else {
            do { source = try SingleFileFolderSource(weights: try open(path: weights, format: format), folder: path) } catch {
                throw error.with(file: path)
            }
        }
        return try format.map { format throws(SheafError) in try source.checked(as: format) } ?? source
    }

    /// Opens `path` as `format` (detected from the content when nil).
    public static func open(path: String, format: InterchangeFormat? = nil, raw: RawLayout? = nil) throws(SheafError) -> any TensorSource {
        if ModelFolder.isFolder(path) { return try openFolder(path, format: format) }
        let detected: InterchangeFormat
        if let format { detected = format } else {
            let found = try detectAndOpen(path: path)
            if let opened = found.source { return opened }
            detected = found.format
        }
        if detected == .safetensors || detected == .torch, format != nil, try Self.startsLikeIndex(path) {
            // A sharded checkpoint's index, named with the shards' format.
            return try ShardedSource(index: path, path: path).checked(as: detected)
        }
        switch detected {
        case .sheaf:
            if SheafSet.isSetIndex(path: path) { return try SheafSetSource(path: path) }
            do { return try SheafSource(file: try SheafFile(path: path)) } catch where error.code == .unsupported && DistributedCheckpoint.isMaster(path: path) {
                // SheafFile refuses a distributed checkpoint's master; probed only then.
                return try DistributedSource(path: path)
            }
        case .hdf5: return try HDF5Source(path: path)
        case .keras:
            let file = try FileReader(path: path)
            // A .weights.h5 is plain HDF5 in Keras' layout; a .keras is the archive.
            if file.descriptor.hasHDF5Signature(size: file.size) { return try HDF5Source(path: path) }
            return try KerasArchiveSource(path: path)
        case .npy: return try NpySource(path: path)
        case .npz: return try NpzSource(archive: try ZipReader(file: try FileReader(path: path)))
        case .safetensors:
            return try SafetensorsSource(path: path)
        case .torch:
            let file = try FileReader(path: path)
            if ZipReader.looksLikeZip(try file.bytes(at: 0, count: min(file.size, 4))) {
                return try TorchSource(archive: try ZipReader(file: file))
            }
            return try TorchSource(legacy: file)
        case .raw:
            guard let raw else {
                throw SheafError(.invalidArgument, file: path, "raw input needs its dtype, shape and byte order (a RawLayout)",
                                 remedy: .rawLayout)
            }
            return try RawSource(path: path, dtype: raw.dtype, shape: raw.shape, bigEndian: raw.bigEndian)
        }
    }

    /// Reads every tensor of a file in any format into a state dict.
    public static func loadStateDict(path: String, format: InterchangeFormat? = nil) throws(SheafError) -> StateDict {
        try open(path: path, format: format).stateDict()
    }
}

extension TensorSource {
    /// Itself, when its format is `format`; else an error saying what it is.
    func checked(as format: InterchangeFormat) throws(SheafError) -> any TensorSource {
        guard self.format == format else {
            throw SheafError(.invalidArgument, file: path, "the weights are \(self.format), not \(format)")
        }
        return self
    }
}
