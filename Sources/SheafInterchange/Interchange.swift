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
    /// - Throws: ``SheafError`` (`unsupported`) when the content matches no format.
    public static func detect(path: String) throws(SheafError) -> InterchangeFormat {
        try detectAndOpen(path: path).format
    }

    /// Detects the format and, for a Sheaf file, keeps the ``SheafFile`` the
    /// detection opened, so the source does not open it again.
    private static func detectAndOpen(path: String) throws(SheafError) -> (format: InterchangeFormat, sheaf: SheafSource?) {
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
            throw SheafError(.unsupported, file: path, "a zip archive that is neither a PyTorch checkpoint nor an .npz file")
        }
        if SafetensorsFormat.looksLikeSafetensors(prefix, size: file.size) { return (.safetensors, nil) }
        if prefix.count >= 2, prefix[0] == 0x80, prefix[1] <= 5 {
            throw SheafError(.unsupported, file: path,
                             "a bare pickle (PyTorch's legacy pre-1.6 format, or another pickle); re-save it with a current torch.save, which writes the zip format")
        }
        throw SheafError(.unsupported, file: path,
                         "cannot tell the format from the content (not HDF5, NumPy, zip, safetensors); for raw bytes give the format raw with its dtype, shape and byte order",
                         remedy: .rawLayout)
    }

    /// Opens `path` as `format` (detected from the content when nil).
    public static func open(path: String, format: InterchangeFormat? = nil, raw: RawLayout? = nil) throws(SheafError) -> any TensorSource {
        let detected: InterchangeFormat
        if let format { detected = format } else {
            let found = try detectAndOpen(path: path)
            if let opened = found.sheaf { return opened }
            detected = found.format
        }
        switch detected {
        case .sheaf: return try SheafSource(file: try SheafFile(path: path))
        case .hdf5: return try HDF5Source(path: path)
        case .npy: return try NpySource(path: path)
        case .npz: return try NpzSource(archive: try ZipReader(file: try FileReader(path: path)))
        case .safetensors: return try SafetensorsSource(path: path)
        case .torch: return try TorchSource(archive: try ZipReader(file: try FileReader(path: path)))
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
