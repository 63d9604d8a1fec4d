import CMPI
import Glibc
import Sheaf
import Synchronization

/// MPI, for saving and loading distributed checkpoints
/// (``DistributedCheckpoint``) from processes started by `mpirun`.
///
/// ```swift
/// try MPI.run { world in
///     try DistributedCheckpoint.save(myPieces, to: folder, communicator: world)
/// }
/// ```
public enum MPI {
    /// Initializes MPI, calls `body` with the world communicator, and
    /// finalizes MPI when it returns. Call it once per process.
    ///
    /// When `body` throws on a rank, the error is printed to standard error
    /// and the whole job is aborted (`MPI_Abort`, exit status 1): the other
    /// ranks may be waiting in a collective call that rank will never make.
    /// Collective Sheaf calls (``DistributedCheckpoint/save(_:metadata:to:name:communicator:options:)``)
    /// throw on every rank alike, so catching their errors inside `body` is safe.
    /// - Throws: ``SheafError`` when MPI cannot start.
    public static func run<R>(_ body: (MPICommunicator) throws -> R) throws -> R {
        var provided: Int32 = 0
        try MPILibrary.call("MPI_Init_thread") { MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided) }
        guard let world = cmpi_comm_world() else { throw SheafError(.io, "MPI has no world communicator") }
        do {
            let result = try body(try MPICommunicator(world))
            try MPILibrary.call("MPI_Finalize") { MPI_Finalize() }
            return result
        } catch {
            var rank: Int32 = -1
            _ = MPI_Comm_rank(world, &rank)
            let line = Array("rank \(rank): \(error)\n".utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            MPI_Abort(world, 1)
            exit(1)
        }
    }
}

/// The one funnel every MPI call goes through: one call at a time (MPI is
/// initialized for serialized use), and a failure's code becomes a
/// ``SheafError`` carrying MPI's own text for it.
enum MPILibrary {
    private static let lock = Mutex(())

    static func call(_ operation: String, _ body: () -> Int32) throws(SheafError) {
        let code = lock.withLock { _ in body() }
        guard code != cmpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        _ = MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(max(0, length))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw SheafError(.io, "\(operation) failed: \(message) (MPI error \(code))")
    }
}

/// An MPI communicator (the world's, or any other) as the ``Communicator``
/// distributed checkpoints use. Errors on it are returned, not fatal, so
/// they reach the caller as ``SheafError``s.
public struct MPICommunicator: Communicator {
    let communicator: MPI_Comm
    public let rank: Int
    public let size: Int

    /// Wraps `communicator` (for example a sub-communicator from `MPI_Comm_split`).
    public init(_ communicator: MPI_Comm) throws(SheafError) {
        self.communicator = communicator
        try MPILibrary.call("MPI_Comm_set_errhandler") { MPI_Comm_set_errhandler(communicator, cmpi_errors_return()) }
        var rank: Int32 = 0, size: Int32 = 0
        try MPILibrary.call("MPI_Comm_rank") { MPI_Comm_rank(communicator, &rank) }
        try MPILibrary.call("MPI_Comm_size") { MPI_Comm_size(communicator, &size) }
        self.rank = Int(rank)
        self.size = Int(size)
    }

    /// Every rank's bytes, in rank order: the lengths with `MPI_Allgather`,
    /// then the bytes with `MPI_Allgatherv`.
    public func allgather(_ bytes: [UInt8]) throws(SheafError) -> [[UInt8]] {
        var mine = Int64(bytes.count)
        var lengths = [Int64](repeating: 0, count: size)
        try MPILibrary.call("MPI_Allgather") {
            MPI_Allgather(&mine, 1, cmpi_int64(), &lengths, 1, cmpi_int64(), communicator)
        }
        var counts: [Int32] = [], displacements: [Int32] = []
        var total: Int64 = 0
        for length in lengths {
            guard length >= 0, total + length <= Int64(Int32.max) else {
                throw SheafError(.limitExceeded, "an allgather of \(total + length) bytes, over MPI's 2 GiB count limit")
            }
            counts.append(Int32(length))
            displacements.append(Int32(total))
            total += length
        }
        var gathered = [UInt8](repeating: 0, count: Int(total))
        var sent = bytes
        try MPILibrary.call("MPI_Allgatherv") {
            sent.withUnsafeMutableBytes { send in
                gathered.withUnsafeMutableBytes { receive in
                    MPI_Allgatherv(send.baseAddress, Int32(bytes.count), cmpi_byte(),
                                   receive.baseAddress, counts, displacements, cmpi_byte(), communicator)
                }
            }
        }
        return zip(counts, displacements).map { Array(gathered[Int($1)..<Int($1 + $0)]) }
    }
}
