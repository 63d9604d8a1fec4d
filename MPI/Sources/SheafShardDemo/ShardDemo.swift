import ArgumentParser
import Glibc
import Sheaf
import SheafMPI

/// Saves and loads a seeded model-like state dict as a distributed checkpoint
/// under `mpirun`: `save DIR` shards it over the ranks (rows, columns,
/// replicated), `load DIR` reads it back at the current world size with its
/// own sharding and exits 1 if any element differs from the seeded values.
@main
struct ShardDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sheaf-shard-demo",
        abstract: "Save and reload a sharded checkpoint from every MPI rank (Sheaf distributed checkpoints).",
        subcommands: [Save.self, Load.self, Check.self])
}

struct ModelOptions: ParsableArguments {
    @Option(help: "The seed of every value.") var seed: UInt64 = 1
    @Option(help: "The hidden size.") var hidden = 64
    @Option(help: "The number of transformer blocks.") var layers = 2
}

/// Seconds since an arbitrary start, monotonic.
func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// The longest of every rank's `seconds` (collective).
func slowest(_ seconds: Double, _ world: MPICommunicator) throws -> Double {
    try world.allgather(withUnsafeBytes(of: seconds.bitPattern) { Array($0) }).map { bytes in
        Double(bitPattern: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    }.max() ?? seconds
}

/// The sum of every rank's `count` (collective).
func total(_ count: Int, _ world: MPICommunicator) throws -> Int {
    try world.allgather(withUnsafeBytes(of: Int64(count)) { Array($0) }).reduce(0) { sum, bytes in
        sum + Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
    }
}

extension ShardDemo {
    struct Save: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Save the seeded model, sharded over the ranks, to DIR/checkpoint.sheaf.")
        @Argument(help: "The checkpoint folder.") var folder: String
        @OptionGroup var model: ModelOptions
        @Option(help: "Create this file (rank 0) just as the save starts, for tests that interrupt it.") var announce: String?

        func run() throws {
            let model = SeededModel(seed: self.model.seed, hidden: self.model.hidden, layers: self.model.layers)
            // A rank stopped by a signal removes the temporary file it was writing.
            PendingTemporaryFiles.removeOnFatalSignals()
            try MPI.run { world in
                let pieces = try model.parameters.enumerated().map { position, parameter in
                    let ranges = model.ranges(parameter, rank: world.rank, of: world.size)
                    return TensorShard(key: parameter.key, shape: parameter.shape, start: ranges.map(\.lowerBound),
                                       tensor: try model.slice(position, ranges))
                }
                let metadata: Metadata = ["demo_seed": .int(Int64(bitPattern: model.seed)), "demo_hidden": .int(Int64(self.model.hidden)),
                                          "demo_layers": .int(Int64(self.model.layers))]
                try world.barrier()
                if world.rank == 0, let announce { close(open(announce, O_CREAT | O_WRONLY, 0o644)) }
                let start = now()
                try DistributedCheckpoint.save(pieces, metadata: metadata, to: folder, communicator: world)
                let seconds = try slowest(now() - start, world)
                if world.rank == 0 {
                    print(#"{"op": "save", "ranks": \#(world.size), "bytes": \#(model.byteCount), "seconds": \#(seconds)}"#)
                }
            }
        }
    }

    struct Load: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load DIR/checkpoint.sheaf at this world size and check every element; exit 1 on a difference.")
        @Argument(help: "The checkpoint folder.") var folder: String
        @Flag(help: "Shard row-sharded tensors by columns and column-sharded ones by rows.") var transposed = false

        func run() throws {
            let mismatches = try MPI.run { world -> Int in
                try world.barrier()
                let start = now()
                let checkpoint = try DistributedCheckpoint(path: folder + "/checkpoint.sheaf")
                guard case .int(let seed)? = checkpoint.metadata["demo_seed"], case .int(let hidden)? = checkpoint.metadata["demo_hidden"],
                      case .int(let layers)? = checkpoint.metadata["demo_layers"] else {
                    throw SheafError(.invalidMetadata, file: checkpoint.path, "not a checkpoint of this demo (no demo_seed, demo_hidden, demo_layers)")
                }
                let model = SeededModel(seed: UInt64(bitPattern: seed), hidden: Int(hidden), layers: Int(layers))
                // A slice that cannot be read (a damaged shard) counts as a difference,
                // so every rank still reaches the collective calls below.
                var loaded: [Tensor?] = []
                var bytes = 0
                for parameter in model.parameters {
                    do {
                        let tensor = try checkpoint.tensor(parameter.key, slice: model.ranges(parameter, rank: world.rank, of: world.size, transposed: transposed))
                        bytes += tensor.byteCount
                        loaded.append(tensor)
                    } catch {
                        print("rank \(world.rank): \(error)")
                        loaded.append(nil)
                    }
                }
                let seconds = try slowest(now() - start, world)
                var wrong = 0
                for (position, parameter) in model.parameters.enumerated() {
                    let expected = try model.slice(position, model.ranges(parameter, rank: world.rank, of: world.size, transposed: transposed))
                    if loaded[position].map({ expected.bitwiseEqual($0) }) != true {
                        wrong += 1
                        print("rank \(world.rank): \(parameter.key) differs from the seeded values")
                    }
                }
                let mismatches = try total(wrong, world)
                let read = try total(bytes, world)
                if world.rank == 0 {
                    print(#"{"op": "load", "ranks": \#(world.size), "bytes": \#(read), "seconds": \#(seconds), "seed": \#(seed), "mismatches": \#(mismatches)}"#)
                }
                return mismatches
            }
            if mismatches > 0 { throw ExitCode(1) }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check one ordinary Sheaf file (a consolidated checkpoint) against the seeded values.")
        @Argument(help: "The file.") var file: String

        func run() throws {
            let stateDict = try StateDict(contentsOf: file)
            guard case .int(let seed)? = stateDict.metadata["demo_seed"], case .int(let hidden)? = stateDict.metadata["demo_hidden"],
                  case .int(let layers)? = stateDict.metadata["demo_layers"] else {
                throw SheafError(.invalidMetadata, file: file, "not a checkpoint of this demo")
            }
            let model = SeededModel(seed: UInt64(bitPattern: seed), hidden: Int(hidden), layers: Int(layers))
            var wrong = 0
            for (position, parameter) in model.parameters.enumerated() {
                let expected = try model.slice(position, parameter.shape.map { 0..<$0 })
                if stateDict[parameter.key].map({ expected.bitwiseEqual($0) }) != true {
                    wrong += 1
                    print("\(parameter.key) differs from the seeded values")
                }
            }
            print("\(file): \(model.parameters.count - wrong) of \(model.parameters.count) tensors equal the seeded values")
            if wrong > 0 { throw ExitCode(1) }
        }
    }
}
