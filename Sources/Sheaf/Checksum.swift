import CXXHash
import CZlib

/// The checksum algorithms a Sheaf file may name in its `sheaf_checksum` attribute.
public enum ChecksumAlgorithm: String, Sendable, CaseIterable, Codable {
    /// XXH3, 64-bit, seed 0 (xxHash 0.8): what this library writes. Many GB/s.
    case xxh3_64 = "xxh3-64"
    /// CRC-32 as zlib computes it, for writers that have only a standard library
    /// (Python's `zlib.crc32`).
    case crc32

    /// The checksum of `bytes`.
    /// - Complexity: O(n), memory-bandwidth bound for xxh3-64.
    public func digest(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        switch self {
        case .xxh3_64:
            return UInt64(XXH3_64bits(bytes.baseAddress, bytes.count))
        case .crc32:
            var stream = ChecksumStream(self)
            stream.update(bytes)
            return stream.value
        }
    }

    /// The checksum of all of `bytes` and of each consecutive `blockSize`
    /// bytes of it (the last block may be shorter), in one pass over memory:
    /// each block is hashed alone and fed to the whole checksum while it is
    /// still in cache.
    /// - Complexity: O(n).
    /// A `blockSize` below 1 counts as 1.
    package func digest(_ bytes: UnsafeRawBufferPointer, blockSize requested: Int) -> (whole: UInt64, blocks: [UInt64]) {
        let blockSize = max(requested, 1)
        var blocks: [UInt64] = []
        blocks.reserveCapacity(bytes.count / blockSize + 1)
        switch self {
        case .xxh3_64:
            var whole = ChecksumStream(self)
            var offset = 0
            while offset < bytes.count {
                let block = UnsafeRawBufferPointer(rebasing: bytes[offset..<min(bytes.count, offset + blockSize)])
                blocks.append(digest(block))
                whole.update(block)
                offset += blockSize
            }
            return (whole.value, blocks)
        case .crc32:
            return (digest(bytes), blocksAlone(bytes, blockSize))
        }
    }

    private func blocksAlone(_ bytes: UnsafeRawBufferPointer, _ blockSize: Int) -> [UInt64] {
        stride(from: 0, to: bytes.count, by: blockSize).map {
            digest(UnsafeRawBufferPointer(rebasing: bytes[$0..<min(bytes.count, $0 + blockSize)]))
        }
    }

    /// The checksum as the index writes it: lowercase hex, 16 digits for
    /// xxh3-64, 8 for crc32.
    public func format(_ value: UInt64) -> String {
        let hex = String(value, radix: 16)
        let width = self == .crc32 ? 8 : 16
        return String(repeating: "0", count: max(0, width - hex.count)) + hex
    }

    /// Parses a checksum written by ``format(_:)``.
    public func parse(_ text: String) -> UInt64? {
        var text = text
        return text.withUTF8 { parse($0) }
    }

    /// Parses the UTF-8 bytes of a checksum written by ``format(_:)``.
    func parse(_ text: UnsafeBufferPointer<UInt8>) -> UInt64? {
        let width = self == .crc32 ? 8 : 16
        guard text.count == width else { return nil }
        var value: UInt64 = 0
        for c in text {
            switch c {
            case 48...57: value = value << 4 | UInt64(c - 48)
            case 97...102: value = value << 4 | UInt64(c - 87)
            default: return nil
            }
        }
        return value
    }
}

/// `ALGORITHM:HEX`: a checksum with its algorithm named, as set indexes and
/// distributed checkpoints record their shards' index checksums (§16, §17).
struct ShardChecksum: Equatable {
    var algorithm: ChecksumAlgorithm
    var value: UInt64

    init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let algorithm = ChecksumAlgorithm(rawValue: parts[0]), let value = algorithm.parse(parts[1]) else { return nil }
        self.algorithm = algorithm
        self.value = value
    }

    init(algorithm: ChecksumAlgorithm, value: UInt64) {
        self.algorithm = algorithm
        self.value = value
    }

    var text: String { "\(algorithm.rawValue):\(algorithm.format(value))" }
}

/// A checksum computed over bytes given in order, piece by piece; the same
/// value ``ChecksumAlgorithm/digest(_:)`` gives for the bytes all at once.
/// (XXH3's state is one small allocation; were it to fail, the value is 0 and
/// what it checks is refused as a mismatch.)
package struct ChecksumStream: ~Copyable {
    let algorithm: ChecksumAlgorithm
    private let state: OpaquePointer?
    private var crc: UInt = 0

    package init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
        if algorithm == .xxh3_64, let state = XXH3_createState() {
            XXH3_64bits_reset(state)
            self.state = state
        } else {
            state = nil
        }
    }

    /// Adds the next `bytes`.
    /// - Complexity: O(n).
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        switch algorithm {
        case .xxh3_64:
            if let state { XXH3_64bits_update(state, bytes.baseAddress, bytes.count) }
        case .crc32:
            var offset = 0
            while offset < bytes.count {
                let chunk = min(bytes.count - offset, 1 << 30)
                crc = CZlib.crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: UInt8.self), UInt32(chunk))
                offset += chunk
            }
        }
    }

    /// The checksum of every byte given.
    package var value: UInt64 {
        switch algorithm {
        case .xxh3_64: state.map { UInt64(XXH3_64bits_digest($0)) } ?? 0
        case .crc32: UInt64(crc)
        }
    }

    deinit { if let state { XXH3_freeState(state) } }
}
