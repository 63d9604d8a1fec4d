import Sheaf

/// The file formats `sheaf convert` reads and writes.
public enum InterchangeFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    case sheaf
    /// Any HDF5 file (h5py, Keras): numeric datasets, group path joined with `.`.
    case hdf5
    case npy
    case npz
    case safetensors
    /// A PyTorch checkpoint written by `torch.save` (zip format, PyTorch 1.6+).
    case torch
    /// Raw little- or big-endian bytes of one tensor; shape and dtype given by the caller.
    case raw
    /// Keras 3: reads `.keras` archives, writes `.weights.h5` files `load_weights` reads.
    case keras

    public var description: String { rawValue }

    /// The format an output path's extension implies, if any.
    public static func forExtension(of path: String) -> InterchangeFormat? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if name.lowercased().hasSuffix(".weights.h5") { return .keras }
        guard let dot = name.lastIndex(of: ".") else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "sheaf": return .sheaf
        case "h5", "hdf5": return .sheaf
        case "npy": return .npy
        case "npz": return .npz
        case "safetensors": return .safetensors
        case "bin", "raw": return .raw
        case "pt", "pth", "params", "ckpt": return .torch
        case "keras": return .keras
        default: return nil
        }
    }
}
