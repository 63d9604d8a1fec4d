import Glibc
import Sheaf

/// A Hugging Face model folder as `save_pretrained` writes it: the weights
/// (one `model.safetensors` or `pytorch_model.bin`, or shards with their
/// `*.index.json`), `config.json` and `generation_config.json`.
///
/// The configuration files are carried verbatim as string metadata under the
/// names of Spec/FORMAT.md §7.1 (``configMetadata`` and ``generationConfigMetadata``).
public enum ModelFolder {
    /// Metadata name for the folder's `config.json` (the JSON text, verbatim).
    public static let configMetadata = "hf_config"
    /// Metadata name for the folder's `generation_config.json` (the JSON text, verbatim).
    public static let generationConfigMetadata = "hf_generation_config"

    /// The weight files transformers looks for, in its order of preference.
    static let weightFiles = ["model.safetensors", "model.safetensors.index.json",
                              "pytorch_model.bin", "pytorch_model.bin.index.json"]
    /// The configuration files carried as metadata, and their metadata names.
    static let configFiles = [("config.json", configMetadata), ("generation_config.json", generationConfigMetadata)]
    /// The largest configuration file read.
    static let maxConfigBytes = 16 << 20

    /// Whether `path` is a folder.
    public static func isFolder(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// The weights file of the folder at `path` (the first of ``weightFiles`` present).
    static func weights(in path: String) throws(SheafError) -> String {
        for name in weightFiles {
            var info = stat()
            let candidate = path + "/" + name
            if stat(candidate, &info) == 0 { return candidate }
        }
        throw SheafError(.fileNotFound, file: path,
                         "a folder without model weights: none of \(weightFiles.joined(separator: ", ")) is in it")
    }

    /// The metadata of the configuration files next to the weights in `folder`;
    /// each must be a JSON object. `file` is what errors name.
    static func configuration(in folder: String, file: String) throws(SheafError) -> Metadata {
        var metadata: Metadata = [:]
        for (name, metadataName) in configFiles {
            let path = folder + "/" + name
            guard FileDescriptor.exists(path) else { continue }
            let reader = try FileReader(path: path)
            guard reader.size <= maxConfigBytes else {
                throw SheafError(.limitExceeded, file: file, "\(name) is \(reader.size) bytes, over the \(maxConfigBytes)-byte limit")
            }
            let bytes = try reader.bytes(at: 0, count: reader.size)
            guard case .object? = JSONReader.value(of: bytes), let text = String(validating: bytes, as: UTF8.self) else {
                throw SheafError(.invalidFile, file: file, "\(name) is not a JSON object")
            }
            metadata[metadataName] = .string(text)
        }
        return metadata
    }
}
