import Sheaf

/// A ``StateDict`` in memory as a ``TensorSource``, so it can be written in
/// any format with ``Exporter`` without a file in between; tied keys (keys
/// sharing one storage) are reported as ties.
public final class StateDictSource: TensorSource {
    public let path: String
    public let format = InterchangeFormat.sheaf
    public let kind: SheafKind
    public let metadata: Metadata
    public let entries: [SourceEntry]
    private let tensors: [Tensor]

    /// - Parameters:
    ///   - name: what messages call this source (it has no file).
    ///   - kind: `.tensor` for one tensor under key `"0"`, `.list` for keys
    ///     `"0"`, `"1"`, …, else `.dict`.
    public init(_ stateDict: StateDict, kind: SheafKind = .dict, name: String = "<memory>") {
        path = name
        self.kind = kind
        metadata = stateDict.metadata
        let pairs = stateDict.map { ($0.key, $0.tensor) }
        let ties = SheafWriter.ties(pairs)
        entries = zip(pairs, ties).map { pair, tie in
            SourceEntry(key: pair.0, dtype: pair.1.dtype, shape: pair.1.shape, tiedTo: tie?.owner, storage: "memory")
        }
        tensors = pairs.map(\.1)
    }

    /// One tensor, as a source of kind `.tensor`.
    public convenience init(_ tensor: Tensor, name: String = "<memory>") {
        var stateDict = StateDict()
        stateDict["0"] = tensor
        self.init(stateDict, kind: .tensor, name: name)
    }

    public func tensor(at index: Int) throws(SheafError) -> Tensor { tensors[index] }
}
