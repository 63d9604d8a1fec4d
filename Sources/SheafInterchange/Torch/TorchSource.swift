import Sheaf

/// A PyTorch checkpoint written by `torch.save`: the zip format (PyTorch 1.6+)
/// or the legacy one (`_use_new_zipfile_serialization=False`, and every
/// checkpoint of PyTorch before 1.6). It holds a tensor, a list/tuple, a
/// dict/OrderedDict or a `state_dict`, or a nested training checkpoint, which
/// is flattened into dotted keys with non-tensor leaves kept as typed metadata.
///
/// The pickles are read by ``Unpickler``, which executes nothing.
final class TorchSource: TensorSource {
    static let maxPickleBytes = 512 << 20
    static let maxNesting = 64
    /// The first pickle of a legacy checkpoint: this number (`LONG1`, 10 bytes).
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    /// The legacy format's protocol version (torch.serialization.PROTOCOL_VERSION).
    static let legacyProtocol: Int64 = 1001

    /// Where the bytes of the checkpoint's storages are.
    private enum StorageBytes {
        /// The zip format: member `<prefix>data/<key>` of the archive.
        case zip(ZipReader, prefix: String)
        /// The legacy format: the offset of each storage's first byte in the file.
        case legacy(FileReader, offsets: [String: Int])
    }

    let path: String
    let format = InterchangeFormat.torch
    private(set) var kind = SheafKind.dict
    private(set) var metadata: Metadata = [:]
    private(set) var entries: [SourceEntry] = []
    private(set) var notes: [String] = []
    /// The nesting of a flattened checkpoint, so it can be written back.
    private(set) var structure: CheckpointNode?
    private var views: [PickleTensor] = []
    private let storageBytes: StorageBytes
    private let bigEndian: Bool

    init(archive: ZipReader) throws(SheafError) {
        path = archive.path
        let pickles = archive.members.filter { $0.name.hasSuffix("/data.pkl") && $0.name.split(separator: "/").count == 2 }
        guard pickles.count == 1 else {
            throw SheafError(.invalidFile, file: path, "zip is not a torch.save checkpoint (expected one <name>/data.pkl, found \(pickles.count))")
        }
        let folder = String(pickles[0].name.dropLast("data.pkl".count))
        let prefix = folder
        storageBytes = .zip(archive, prefix: prefix)
        if archive.member(folder + "constants.pkl") != nil || archive.members.contains(where: { $0.name.hasPrefix(folder + "code/") }) {
            throw SheafError(.unsupported, file: path, "a TorchScript archive (torch.jit.save), not a torch.save checkpoint; save the model's state_dict() with torch.save instead")
        }
        if let order = archive.member(prefix + "byteorder") {
            let text = String(decoding: try archive.bytes(of: order, limit: 64), as: UTF8.self)
            guard text == "little" || text == "big" else {
                throw SheafError(.invalidFile, file: path, "byteorder member says '\(text)', expected little or big")
            }
            bigEndian = text == "big"
        } else {
            bigEndian = false
        }
        let pickle = try archive.bytes(of: pickles[0], limit: Self.maxPickleBytes)
        let dataPrefix = prefix + "data/"
        let sizes = Dictionary(archive.members.map { ($0.name, $0.size) }, uniquingKeysWith: { a, _ in a })
        var unpickler = Unpickler(data: pickle, file: archive.path) { key in sizes[dataPrefix + key] }
        defer { unpickler.releaseContainers() }
        let root = try unpickler.load()
        try build(root, storage: "zip stored")
    }

    /// Reads a legacy checkpoint: a pickle of the magic number, one of the
    /// protocol version, one of the writer's `sys_info`, the checkpoint's pickle
    /// (storages as persistent ids), a pickle of the storage keys, then each
    /// storage in that order as an 8-byte little-endian element count and its
    /// bytes (torch.serialization `_legacy_save`).
    init(legacy file: FileReader) throws(SheafError) {
        path = file.path
        // The pickles come first; read a growing prefix of the file until they parse.
        var length = min(file.size, 1 << 20)
        var parsed: LegacyPickles?
        while parsed == nil {
            parsed = try Self.legacyPickles(try file.bytes(at: 0, count: length), file: path)
            guard parsed == nil else { break }
            guard length < file.size, length < Self.maxPickleBytes else {
                throw SheafError(.invalidFile, file: path, "legacy PyTorch checkpoint: the file ends inside its pickles (\(file.size) bytes)")
            }
            length = min(file.size, length * 4, Self.maxPickleBytes)
        }
        guard var pickles = parsed else { throw SheafError(.invalidFile, file: path, "legacy PyTorch checkpoint: no pickles") }
        defer { pickles.main.releaseContainers() }
        bigEndian = pickles.bigEndian
        // The storages, back to back after the pickles, in the order of the key list.
        let storages = pickles.main.referencedStorages
        var offsets: [String: Int] = [:]
        var position = pickles.dataStart
        for key in pickles.keys {
            guard let storage = storages[key] else {
                throw SheafError(.invalidFile, file: path, key: key, "legacy PyTorch checkpoint: the storage list names a storage no tensor uses")
            }
            guard offsets[key] == nil else {
                throw SheafError(.invalidFile, file: path, key: key, "legacy PyTorch checkpoint: a storage listed twice")
            }
            var cursor = ByteCursor(try file.bytes(at: position, count: 8), what: "legacy storage size")
            let count = try cursor.u64()
            guard count == UInt64(storage.count) else {
                throw SheafError(.invalidFile, file: path, key: key,
                                 "legacy PyTorch checkpoint: storage '\(key)' holds \(count) elements, its tensors say \(storage.count)")
            }
            let bytes = storage.count * storage.dtype.itemSize  // bounded: checked against numel when unpickled
            guard bytes <= file.size - position - 8 else {
                throw SheafError(.invalidFile, file: path, key: key,
                                 "legacy PyTorch checkpoint: storage '\(key)' of \(bytes) bytes runs past the end of the \(file.size)-byte file")
            }
            offsets[key] = position + 8
            position += 8 + bytes
        }
        if let missing = storages.keys.filter({ offsets[$0] == nil }).min() {
            throw SheafError(.invalidFile, file: path, key: missing, "legacy PyTorch checkpoint: a tensor's storage is not in the file")
        }
        storageBytes = .legacy(file, offsets: offsets)
        try build(pickles.root, storage: "legacy")
        if position != file.size {
            notes.append("\(file.size - position) bytes after the last storage were not read")
        }
    }

    /// The pickles of a legacy checkpoint, parsed.
    private struct LegacyPickles {
        var main: Unpickler
        var root: PickleValue
        var keys: [String]
        var dataStart: Int
        var bigEndian: Bool
    }

    /// Parses the pickles at the start of a legacy checkpoint; nil when `bytes`
    /// ends before they do (the caller reads more).
    private static func legacyPickles(_ bytes: [UInt8], file: String) throws(SheafError) -> LegacyPickles? {
        func fail(_ message: String, _ code: SheafError.Code = .invalidFile) -> SheafError {
            SheafError(code, file: file, "legacy PyTorch checkpoint: \(message)")
        }
        var start = 0
        /// The next pickle, or nil when `bytes` ran out inside it.
        func next(_ unpickler: inout Unpickler) throws(SheafError) -> PickleValue? {
            do {
                let value = try unpickler.load()
                start = unpickler.end
                return value
            } catch {
                if unpickler.ranOut { return nil }
                throw error
            }
        }
        var header = Unpickler(data: bytes, file: file, storageBytes: nil)
        guard let magic = try next(&header) else { return nil }
        guard case .bigInt(let number) = magic, number == legacyMagic else {
            throw fail("a pickle that does not start with torch's magic number", .unsupported)
        }
        header = Unpickler(data: bytes, file: file, start: start, storageBytes: nil)
        guard let version = try next(&header) else { return nil }
        guard case .int(legacyProtocol) = version else { throw fail("protocol version \(version.typeName) is not \(legacyProtocol)", .unsupported) }
        header = Unpickler(data: bytes, file: file, start: start, storageBytes: nil)
        guard let info = try next(&header) else { return nil }
        var bigEndian = false
        if case .dict(let dict) = info, case .bool(let little)? = dict.values["little_endian"] { bigEndian = !little }
        header.releaseContainers()
        var main = Unpickler(data: bytes, file: file, start: start, storageBytes: nil)
        guard let root = try next(&main) else { main.releaseContainers(); return nil }
        var list = Unpickler(data: bytes, file: file, start: start, storageBytes: nil)
        guard let keyList = try next(&list) else { main.releaseContainers(); return nil }
        defer { list.releaseContainers() }
        guard case .list(let items) = keyList else { throw fail("the storage key list is a \(keyList.typeName)") }
        var keys: [String] = []
        for item in items.items {
            guard case .string(let key) = item else { throw fail("a storage key is a \(item.typeName)") }
            keys.append(key)
        }
        return LegacyPickles(main: main, root: root, keys: keys, dataStart: start, bigEndian: bigEndian)
    }

    private func build(_ root: PickleValue, storage label: String) throws(SheafError) {
        var leaves: [(String, PickleValue)] = []
        var flattened = false
        var tree: CheckpointNode?
        switch root {
        case .tensor:
            kind = .tensor
            leaves = [("0", root)]
        case .list(let list) where list.items.allSatisfy(Self.isTensor):
            kind = .list
            leaves = list.items.enumerated().map { (String($0.offset), $0.element) }
        case .tuple(let items) where items.allSatisfy(Self.isTensor):
            kind = .list
            leaves = items.enumerated().map { (String($0.offset), $0.element) }
        case .dict(let dict) where dict.keys.allSatisfy({ Self.isTensor(dict.values[$0]!) }):
            kind = .dict
            leaves = dict.keys.map { ($0, dict.values[$0]!) }
        case .dict, .list, .tuple:
            kind = .dict
            flattened = true
            tree = try flatten(root, prefix: "", depth: 0, into: &leaves)
        default:
            throw SheafError(.unsupported, file: path, "checkpoint holds a \(root.typeName), not tensors")
        }
        var metadataKeys: [String] = []
        var sharedViews = 0
        var storagesSeen: [ObjectIdentifier: Int] = [:]
        var keys: Set<String> = []
        for (key, value) in leaves {
            guard keys.insert(key).inserted else {
                throw SheafError(.invalidKey, file: path, key: key, "two leaves flatten to the same key")
            }
            switch value {
            case .tensor(let view):
                // Equal views of one storage are one tensor (tied weights).
                let same = views.indices.first { i in
                    let other = views[i]
                    return other.storage === view.storage && other.offset == view.offset &&
                        other.shape == view.shape && other.strides == view.strides
                }
                if let same, entries[same].tiedTo == nil {
                    entries.append(SourceEntry(key: key, dtype: view.storage.dtype, shape: view.shape,
                                               tiedTo: entries[same].key, storage: entries[same].storage))
                } else {
                    storagesSeen[ObjectIdentifier(view.storage), default: 0] += 1
                    if storagesSeen[ObjectIdentifier(view.storage)]! > 1 { sharedViews += 1 }
                    entries.append(SourceEntry(key: key, dtype: view.storage.dtype, shape: view.shape,
                                               storage: Self.isContiguous(view) ? label : label + ", strided view"))
                }
                views.append(view)
            default:
                if let value = Self.metadataValue(value) {
                    metadata[key] = value
                    metadataKeys.append("\(key) (\(value.typeName))")
                } else {
                    notes.append("dropped \(key): a \(value.typeName) leaf cannot be metadata")
                }
            }
        }
        if flattened, let tree {
            structure = resolve(tree, tensors: Set(entries.map(\.key)))
            notes.insert("flattened a nested checkpoint into \(entries.count) dotted tensor keys (its nesting is kept for the way back)" +
                         (metadataKeys.isEmpty ? "" : " and \(metadataKeys.count) metadata values: " + metadataKeys.joined(separator: ", ")), at: 0)
        }
        if sharedViews > 0 {
            notes.append("\(sharedViews) tensors are different views of a storage another tensor uses; each is written as its own tensor")
        }
    }

    private static func isTensor(_ value: PickleValue) -> Bool {
        if case .tensor = value { return true }
        return false
    }

    static func isContiguous(_ view: PickleTensor) -> Bool {
        var expected = 1
        for (size, stride) in zip(view.shape, view.strides).reversed() {
            if size != 1 && stride != expected { return false }
            expected *= size
        }
        return true
    }

    static func metadataValue(_ value: PickleValue) -> MetadataValue? {
        switch value {
        case .string(let s): return .string(s)
        case .int(let i): return .int(i)
        case .float(let f): return .float(f)
        case .bool(let b): return .bool(b)
        case .tuple, .list:
            var items: [PickleValue] = []
            if case .tuple(let t) = value { items = t }
            if case .list(let l) = value { items = l.items }
            if items.allSatisfy({ if case .int = $0 { return true }; return false }) {
                return .ints(items.compactMap { if case .int(let i) = $0 { return i }; return nil })
            }
            // Floats only: a list mixing ints and floats is kept item by item, so no int becomes a float.
            if items.allSatisfy({ if case .float = $0 { return true }; return false }) {
                return .floats(items.compactMap { if case .float(let f) = $0 { return f }; return nil })
            }
            if items.allSatisfy({ if case .string = $0 { return true }; return false }) {
                return .strings(items.compactMap { if case .string(let s) = $0 { return s }; return nil })
            }
            if items.allSatisfy({ if case .bool = $0 { return true }; return false }) {
                return .bools(items.compactMap { if case .bool(let b) = $0 { return b }; return nil })
            }
            return nil
        default:
            return nil
        }
    }

    /// Flattens `value` into dotted leaves and returns its place in the
    /// checkpoint's structure; a leaf is returned as `.tensor(KEY)` until
    /// ``resolve(_:)`` knows whether it became a tensor or a metadata value.
    private func flatten(_ value: PickleValue, prefix: String, depth: Int,
                         into leaves: inout [(String, PickleValue)]) throws(SheafError) -> CheckpointNode {
        guard depth < Self.maxNesting else {
            throw SheafError(.limitExceeded, file: path, key: prefix, "containers nested deeper than \(Self.maxNesting)")
        }
        func join(_ key: String) -> String { prefix.isEmpty ? key : prefix + "." + key }
        switch value {
        case .dict(let dict):
            var items: [CheckpointItem] = []
            for key in dict.keys {
                guard let item = dict.values[key] else { continue }
                items.append(CheckpointItem(key: dict.typedKeys[key] ?? .string(key),
                                            value: try flatten(item, prefix: join(key), depth: depth + 1, into: &leaves)))
            }
            return .dict(ordered: dict.ordered, items: items)
        case .list, .tuple:
            var items: [PickleValue] = []
            var isTuple = false
            if case .list(let list) = value { items = list.items }
            if case .tuple(let tuple) = value { items = tuple; isTuple = true }
            if !prefix.isEmpty, Self.metadataValue(value) != nil, !items.isEmpty {
                leaves.append((prefix, value))
                return .metadata(prefix, asTuple: isTuple)
            }
            var nodes: [CheckpointNode] = []
            for (i, item) in items.enumerated() { nodes.append(try flatten(item, prefix: join(String(i)), depth: depth + 1, into: &leaves)) }
            return isTuple ? .tuple(nodes) : .list(nodes)
        case .none:
            return .none
        default:
            leaves.append((prefix, value))
            return .tensor(prefix)
        }
    }

    /// The structure with each leaf resolved: a tensor key, a metadata name,
    /// or None for a leaf that could be neither (named in a note).
    private func resolve(_ node: CheckpointNode, tensors: Set<String>) -> CheckpointNode {
        switch node {
        case .dict(let ordered, let items):
            return .dict(ordered: ordered, items: items.map { CheckpointItem(key: $0.key, value: resolve($0.value, tensors: tensors)) })
        case .list(let nodes): return .list(nodes.map { resolve($0, tensors: tensors) })
        case .tuple(let nodes): return .tuple(nodes.map { resolve($0, tensors: tensors) })
        case .tensor(let key):
            if tensors.contains(key) { return node }
            return metadata[key] != nil ? .metadata(key, asTuple: false) : .none
        case .metadata, .none: return node
        }
    }

    func tensor(at index: Int) throws(SheafError) -> Tensor {
        let view = views[index]
        let key = entries[index].key
        let dtype = view.storage.dtype
        let item = dtype.itemSize
        var tensor: Tensor
        switch storageBytes {
        case .zip(let archive, let prefix):
            guard let member = archive.member(prefix + "data/" + view.storage.key) else {
                throw SheafError(.invalidFile, file: path, key: key, "storage data member missing")
            }
            if Self.isContiguous(view), member.method == 0 {
                // Read just the view's bytes straight from the archive.
                let start = try archive.dataOffset(of: member) + view.offset * item
                tensor = try archive.file.tensor(dtype: dtype, shape: view.shape, at: start, key: key)
            } else {
                // The whole storage, read straight into an uninitialized buffer (every byte is written).
                let whole: Tensor
                do {
                    whole = try Tensor(dtype: dtype, shape: [view.storage.count]) { buffer in try archive.read(member, into: buffer) }
                } catch let error as SheafError { throw error } catch {
                    throw SheafError(.io, file: path, key: key, "\(error)")
                }
                tensor = try Layout.gather(whole, shape: view.shape, strides: view.strides, offset: view.offset)
            }
        case .legacy(let file, let offsets):
            guard let start = offsets[view.storage.key] else {
                throw SheafError(.invalidFile, file: path, key: key, "storage missing")
            }
            if Self.isContiguous(view) {
                tensor = try file.tensor(dtype: dtype, shape: view.shape, at: start + view.offset * item, key: key)
            } else {
                let whole = try file.tensor(dtype: dtype, shape: [view.storage.count], at: start, key: key)
                tensor = try Layout.gather(whole, shape: view.shape, strides: view.strides, offset: view.offset)
            }
        }
        if bigEndian { tensor = try NumPyFormat.normalize(tensor, bigEndian: true, fortranOrder: false) }
        if dtype == .bool {
            tensor.withUnsafeMutableBytes { bytes in for i in 0..<bytes.count where bytes[i] > 1 { bytes[i] = 1 } }
        }
        return tensor
    }
}
