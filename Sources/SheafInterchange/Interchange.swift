import Sheaf
import SheafHDF5

/// Opening files of any supported format, and writing them.
public enum Interchange {
    /// What a raw input needs: `--shape`, `--dtype` and `--byte-order`.
    public struct RawLayout: Sendable {
        public var dtype: DType
        public var shape: [Int]
        public var bigEndian: Bool
        public init(dtype: DType, shape: [Int], bigEndian: Bool) {
            self.dtype = dtype; self.shape = shape; self.bigEndian = bigEndian
        }
    }

    /// The format of the file at `path`, from its content (never its extension).
    /// - Throws: ``SheafError`` (`unsupported`) when the content matches no format.
    public static func detect(path: String) throws(SheafError) -> InterchangeFormat {
        let file = try FileReader(path: path)
        let prefix = try file.bytes(at: 0, count: min(file.size, 64))
        if HDF5Library.hasSignature(descriptor: file.descriptor, size: file.size) {
            do { _ = try SheafFile(path: path); return .sheaf } catch where error.code == .notSheaf { return .hdf5 } catch {
                return .sheaf  // a damaged Sheaf file: let the Sheaf reader report it
            }
        }
        if prefix.starts(with: NumPyFormat.magic) { return .npy }
        if ZipArchive.looksLikeZip(prefix) {
            let archive = try ZipArchive(file: file)
            if archive.members.contains(where: { $0.name.hasSuffix("/data.pkl") }) { return .torch }
            if !archive.members.isEmpty, archive.members.allSatisfy({ $0.name.hasSuffix(".npy") }) { return .npz }
            throw SheafError(.unsupported, file: path, "a zip archive that is neither a PyTorch checkpoint nor an .npz file")
        }
        if SafetensorsFormat.looksLikeSafetensors(prefix, size: file.size) { return .safetensors }
        if prefix.count >= 2, prefix[0] == 0x80, prefix[1] <= 5 {
            throw SheafError(.unsupported, file: path,
                             "a bare pickle (PyTorch's legacy pre-1.6 format, or another pickle); re-save it with a current torch.save, which writes the zip format")
        }
        throw SheafError(.unsupported, file: path,
                         "cannot tell the format from the content (not HDF5, NumPy, zip, safetensors); for raw bytes pass --from raw with --shape and --dtype")
    }

    /// Opens `path` as `format` (detected from the content when nil).
    public static func open(path: String, format: InterchangeFormat? = nil, raw: RawLayout? = nil) throws(SheafError) -> any TensorSource {
        let detected: InterchangeFormat
        if let format { detected = format } else { detected = try detect(path: path) }
        switch detected {
        case .sheaf: return try SheafSource(path: path)
        case .hdf5: return try HDF5Source(path: path)
        case .npy: return try NpySource(path: path)
        case .npz: return try NpzSource(archive: try ZipArchive(file: try FileReader(path: path)))
        case .safetensors: return try SafetensorsSource(path: path)
        case .torch: return try TorchSource(archive: try ZipArchive(file: try FileReader(path: path)))
        case .raw:
            guard let raw else {
                throw SheafError(.invalidArgument, file: path, "raw input needs --shape, --dtype and --byte-order")
            }
            return try RawSource(path: path, dtype: raw.dtype, shape: raw.shape, bigEndian: raw.bigEndian)
        }
    }

    /// Reads every tensor of a file in any format into a state dict.
    public static func loadStateDict(path: String, format: InterchangeFormat? = nil) throws(SheafError) -> StateDict {
        try open(path: path, format: format).stateDict()
    }
}
