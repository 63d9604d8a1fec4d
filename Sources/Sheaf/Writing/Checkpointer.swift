import Glibc

/// Crash-safe training checkpoints in one folder: `checkpoint-<step>.sheaf`.
///
/// Each save is atomic and durable (temporary file, fsync of the file and the
/// folder, rename), so after a crash or power cut the folder holds complete
/// checkpoints only; older ones are deleted only after the new one is durable.
/// Temporary files a killed save left behind are removed when a `Checkpointer`
/// is created for the folder.
public struct Checkpointer: Sendable {
    public let directory: String
    public let keepLast: Int
    /// Temporary files removed at start-up (left by an interrupted save).
    public let cleanedTemporaryFiles: [String]

    static let prefix = "checkpoint-"
    static let suffix = ".sheaf"

    /// Opens (creating if needed) a checkpoint folder keeping the newest `keepLast` checkpoints.
    public init(directory: String, keepLast: Int = 3) throws(SheafError) {
        guard keepLast >= 1 else { throw SheafError(.invalidArgument, file: directory, "keepLast must be at least 1, found \(keepLast)") }
        self.directory = directory
        self.keepLast = keepLast
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw FileDescriptor.Errno.current.sheafError("cannot create the checkpoint folder", file: directory)
        }
        var cleaned: [String] = []
        for name in try Self.list(directory) where name.hasPrefix(AtomicFile.temporaryPrefix + Self.prefix) {
            if unlink(directory + "/" + name) == 0 { cleaned.append(name) }
        }
        cleanedTemporaryFiles = cleaned
    }

    static func list(_ directory: String) throws(SheafError) -> [String] {
        do { return try FileDescriptor.names(inFolder: directory) } catch {
            throw error.sheafError("cannot list the checkpoint folder", file: directory)
        }
    }

    /// The path of the checkpoint for `step`.
    public func path(step: Int) -> String {
        let digits = String(step)
        return directory + "/" + Self.prefix + String(repeating: "0", count: max(0, 12 - digits.count)) + digits + Self.suffix
    }

    /// The steps that have a checkpoint file, oldest first (not verified).
    public func steps() throws(SheafError) -> [Int] {
        try Self.list(directory).compactMap { name -> Int? in
            guard name.hasPrefix(Self.prefix), name.hasSuffix(Self.suffix) else { return nil }
            return Int(name.dropFirst(Self.prefix.count).dropLast(Self.suffix.count))
        }.filter { $0 >= 0 }.sorted()
    }

    /// Saves `stateDict` as the checkpoint of `step` (its metadata plus `metadata`
    /// plus `step`), durably, then deletes all but the newest `keepLast`.
    /// - Returns: the checkpoint's path.
    @discardableResult
    public func save(_ stateDict: StateDict, step: Int, metadata: Metadata = [:], options: SaveOptions = .default) throws(SheafError) -> String {
        guard step >= 0 else { throw SheafError(.invalidArgument, file: directory, "step must be non-negative, found \(step)") }
        var sd = stateDict
        for (name, value) in metadata { sd.metadata[name] = value }
        sd.metadata["step"] = .int(Int64(step))
        let target = path(step: step)
        try sd.save(to: target, options: options)
        let all = try steps()
        for old in all.dropLast(keepLast) where old != step {
            unlink(path(step: old))
        }
        return target
    }

    /// The newest checkpoint that verifies, with the ones skipped on the way and why.
    /// - Complexity: reads each candidate in full (every checksum verified).
    public func latest() throws(SheafError) -> (step: Int, stateDict: StateDict, skipped: [(step: Int, reason: String)])? {
        var skipped: [(Int, String)] = []
        for step in try steps().reversed() {
            let file = path(step: step)
            let problems = SheafFile.verify(path: file)
            if !problems.isEmpty {
                skipped.append((step, problems.map(\.description).joined(separator: "; ")))
                continue
            }
            do { return (step, try StateDict(contentsOf: file), skipped) } catch {
                skipped.append((step, error.description))
            }
        }
        return nil
    }

    /// Loads the checkpoint of `step`, every checksum verified.
    public func load(step: Int) throws(SheafError) -> StateDict {
        try StateDict(contentsOf: path(step: step))
    }
}
