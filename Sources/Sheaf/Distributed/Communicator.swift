import Glibc

/// The group of processes (ranks) that save or load a distributed checkpoint
/// together: what ``DistributedCheckpoint/save(_:metadata:to:name:communicator:options:)``
/// needs of MPI, so the library itself needs no MPI.
///
/// Conformers: ``SingleProcessCommunicator`` (one rank), ``LocalCommunicatorGroup``
/// (ranks as threads of one process, for tests and for running a sharded
/// save on one machine), and `MPICommunicator` in the `SheafMPI` product
/// (MPI's `MPI_COMM_WORLD` or any communicator).
///
/// Every rank must make the same collective calls in the same order.
public protocol Communicator {
    /// This process's rank, `0..<size`.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// Every rank's `bytes`, in rank order (`result[rank] == bytes`).
    /// Collective: returns once every rank has called it.
    func allgather(_ bytes: [UInt8]) throws(SheafError) -> [[UInt8]]
}

extension Communicator {
    /// Waits until every rank has called it.
    public func barrier() throws(SheafError) { _ = try allgather([]) }
}

/// A group of one: rank 0 of size 1.
public struct SingleProcessCommunicator: Communicator, Sendable {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allgather(_ bytes: [UInt8]) throws(SheafError) -> [[UInt8]] { [bytes] }
}

/// Ranks that are threads of one process: ``communicator(rank:)`` gives each
/// thread its rank's communicator. For tests of collective code without MPI,
/// and for a sharded save from one process.
///
/// `@unchecked Sendable`: its one mutable state, the round, is read and
/// written only under its pthread mutex.
public final class LocalCommunicatorGroup: @unchecked Sendable {
    public let size: Int
    private struct Round: Sendable {
        var generation = 0
        var arrived = 0
        var slots: [[UInt8]]
        var result: [[UInt8]] = []
    }
    /// The round, under a pthread mutex and condition (allocated once, so
    /// their addresses are stable, and freed with the group).
    private let round: UnsafeMutablePointer<Round>
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    /// A group of `size` ranks (at least one).
    public init(size: Int) {
        self.size = max(size, 1)
        round = .allocate(capacity: 1)
        round.initialize(to: Round(slots: Array(repeating: [], count: max(size, 1))))
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
        round.deinitialize(count: 1)
        round.deallocate()
    }

    /// The communicator of `rank` (`0..<size`); each rank's calls must come
    /// from its own thread.
    public func communicator(rank: Int) -> Member { Member(group: self, rank: rank) }

    /// One rank of a ``LocalCommunicatorGroup``.
    public struct Member: Communicator, Sendable {
        let group: LocalCommunicatorGroup
        public let rank: Int
        public var size: Int { group.size }
        public func allgather(_ bytes: [UInt8]) throws(SheafError) -> [[UInt8]] {
            guard (0..<group.size).contains(rank) else {
                throw SheafError(.invalidArgument, "rank \(rank) is not in 0..<\(group.size)")
            }
            return group.allgather(bytes, rank: rank)
        }
    }

    private func allgather(_ bytes: [UInt8], rank: Int) -> [[UInt8]] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let generation = round.pointee.generation
        round.pointee.slots[rank] = bytes
        round.pointee.arrived += 1
        if round.pointee.arrived == size {
            // Every rank read the previous round's result before arriving here.
            round.pointee.result = round.pointee.slots
            round.pointee.slots = Array(repeating: [], count: size)
            round.pointee.arrived = 0
            round.pointee.generation += 1
            pthread_cond_broadcast(condition)
        } else {
            while round.pointee.generation == generation { pthread_cond_wait(condition, mutex) }
        }
        return round.pointee.result
    }
}
