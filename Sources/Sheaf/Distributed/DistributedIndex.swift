#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The index of a distributed checkpoint's master file (Spec/FORMAT.md §17):
/// its shard files and, for every global tensor, the pieces the shards hold.
struct DistributedIndex: Codable, Equatable {
    struct Layout: Codable, Equatable {
        /// The version of the distributed-set layout (`"1.3"`).
        var version: String
        /// The number of ranks that wrote the checkpoint.
        var world_size: Int
        var shards: [SheafSet.Document.ShardRecord]
    }
    struct Piece: Codable, Equatable {
        /// The number of the shard (in `shards`) that holds the piece, under the tensor's key.
        var shard: Int
        var start: [Int]
        var count: [Int]
    }
    struct TensorRecord: Codable, Equatable {
        var key: String
        var dtype: String
        var shape: [Int]
        var pieces: [Piece]
    }
    var distributed: Layout
    var metadata_checksum: String
    var tensors: [TensorRecord]

    /// The most pieces one tensor may have (their overlap check is quadratic).
    static let maxPieces = 4_096
    /// The most shard files a checkpoint may have.
    static let maxShards = 65_536

    /// Parses and checks an index: the form, the dtypes, shard names (plain
    /// file names, listed once), pieces that lie inside their tensor and cover
    /// it exactly once. Errors name the key; nothing computed from data is shown.
    static func parse(_ bytes: [UInt8], path: String) throws(SheafError) -> DistributedIndex {
        func bad(_ message: String, key: String? = nil) -> SheafError {
            SheafError(.invalidIndex, file: path, key: key, "distributed index: \(message)")
        }
        guard JSONReader.isObjectWithoutRepeatedMembers(bytes) else {
            throw bad("not a JSON object, or an object repeats a member")
        }
        let index: DistributedIndex
        do { index = try JSONDecoder().decode(DistributedIndex.self, from: Data(bytes)) } catch {
            throw bad("not of the form Spec/FORMAT.md §17 gives (\(Self.describe(error)))")
        }
        let set = index.distributed
        guard set.version.split(separator: ".").first == "1" else {
            throw SheafError(.unsupportedVersion, file: path, "distributed set version \(set.version); this reader supports 1.x")
        }
        guard set.world_size > 0 else { throw bad("world_size must be positive") }
        guard set.shards.count <= maxShards else {
            throw SheafError(.limitExceeded, file: path, "\(set.shards.count) shards, over the limit of \(maxShards)")
        }
        guard index.tensors.count <= FormatLayout.maxTensors else {
            throw SheafError(.limitExceeded, file: path, "\(index.tensors.count) tensors, over the limit of \(FormatLayout.maxTensors)")
        }
        var names: Set<String> = []
        for shard in set.shards {
            guard SheafSet.isPlainName(shard.file) else { throw bad("shard '\(shard.file)' is not a file name in the master's folder") }
            guard names.insert(shard.file).inserted else { throw bad("shard '\(shard.file)' is listed twice") }
            guard ShardChecksum(shard.index_checksum) != nil else {
                throw bad("shard \(shard.file): index_checksum '\(shard.index_checksum)' is not ALGORITHM:HEX")
            }
            guard shard.tensors >= 0 else { throw bad("shard \(shard.file): a negative tensor count") }
        }
        var keys: Set<String> = []
        for tensor in index.tensors {
            let key = tensor.key
            do { _ = try FormatLayout.linkName(for: key) } catch { throw error.with(file: path, key: key) }
            guard keys.insert(key).inserted else { throw bad("the key is listed twice", key: key) }
            guard let dtype = DType.named[tensor.dtype] else {
                throw SheafError(.unknownDType, file: path, key: key, "unknown dtype '\(tensor.dtype)'")
            }
            guard tensor.shape.count <= 32, tensor.shape.allSatisfy({ $0 >= 0 }),
                  (try? Shape.byteCount(tensor.shape, dtype)) != nil else {
                throw bad("shape \(tensor.shape) is not a valid extent", key: key)
            }
            try checkTiling(tensor, file: path, shardCount: set.shards.count)
        }
        return index
    }

    /// Whether the pieces lie inside the tensor, in known shards, and cover
    /// every element exactly once.
    static func checkTiling(_ tensor: TensorRecord, file: String, shardCount: Int) throws(SheafError) {
        let key = tensor.key, shape = tensor.shape
        func bad(_ message: String) -> SheafError { SheafError(.invalidIndex, file: file, key: key, "distributed index: \(message)") }
        guard !tensor.pieces.isEmpty else { throw bad("the tensor has no pieces") }
        guard tensor.pieces.count <= maxPieces else {
            throw SheafError(.limitExceeded, file: file, key: key, "\(tensor.pieces.count) pieces, over the limit of \(maxPieces)")
        }
        var covered = 0
        for piece in tensor.pieces {
            guard (0..<shardCount).contains(piece.shard) else { throw bad("a piece names shard \(piece.shard), which is not listed") }
            guard piece.start.count == shape.count, piece.count.count == shape.count,
                  zip(zip(piece.start, piece.count), shape).allSatisfy({ $0.0 >= 0 && $0.1 >= 0 && $0.0 <= $1 - $0.1 }) else {
                throw bad("the piece at \(piece.start) of extent \(piece.count) does not lie inside shape \(shape)")
            }
            // Each piece lies inside the tensor and there are at most maxPieces.
            covered = covered.addingReportingOverflow(piece.count.reduce(1, *)).partialValue
        }
        let total = shape.reduce(1, *)
        // An empty tensor has nothing to cover; its pieces are empty.
        if total == 0 { return }
        for (i, a) in tensor.pieces.enumerated() where a.count.reduce(1, *) > 0 {
            for b in tensor.pieces[(i + 1)...] where b.count.reduce(1, *) > 0 {
                let overlaps = (0..<shape.count).allSatisfy { d in
                    a.start[d] < b.start[d] + b.count[d] && b.start[d] < a.start[d] + a.count[d]
                }
                if overlaps { throw bad("pieces at \(a.start) and \(b.start) overlap") }
            }
        }
        guard covered == total else {
            throw bad("the pieces cover \(covered) of the \(total) elements of shape \(shape)")
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing '\(key.stringValue)' at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "malformed"
        }
    }
}
