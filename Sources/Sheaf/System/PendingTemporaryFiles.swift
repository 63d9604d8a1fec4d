import Synchronization
import Glibc

/// The temporary files ``AtomicFile`` is writing right now, kept where a signal
/// handler can reach them without allocating or locking, so a command stopped
/// by Ctrl-C, `kill` or a crash removes its half-written file on the way out.
///
/// Paths live in fixed C buffers; a bit mask says which slots are live. The
/// handler reads only the mask and the buffers and calls only `unlink`,
/// `signal` and `raise`, all async-signal-safe.
public enum PendingTemporaryFiles {
    static let slotCount = 16
    static let slotBytes = 4096
    // nonisolated(unsafe): a raw buffer allocated once and never freed; slots are
    // written only under `writers` while their bit in `live` is clear, and the
    // signal handler reads only slots whose bit is set (published with release
    // ordering), so no slot is read and written at once.
    nonisolated(unsafe) static let paths = UnsafeMutablePointer<CChar>.allocate(capacity: slotCount * slotBytes)
    static let live = Atomic<Int>(0)
    /// Serialises slot choice among writers (never taken by the handler).
    static let writers = Mutex<Void>(())

    /// Records `path`; returns its slot, or nil when none is free or the path
    /// is too long (it is then only removed by the writer's own error path).
    static func register(_ path: String) -> Int? {
        let bytes = Array(path.utf8)
        guard bytes.count < slotBytes else { return nil }
        return writers.withLock { _ -> Int? in
            let mask = live.load(ordering: .acquiring)
            guard let slot = (0..<slotCount).first(where: { mask & (1 << $0) == 0 }) else { return nil }
            let base = paths + slot * slotBytes
            for (i, byte) in bytes.enumerated() { base[i] = CChar(bitPattern: byte) }
            base[bytes.count] = 0
            live.bitwiseOr(1 << slot, ordering: .releasing)
            return slot
        }
    }

    static func unregister(_ slot: Int?) {
        guard let slot else { return }
        writers.withLock { _ in _ = live.bitwiseAnd(~(1 << slot), ordering: .releasing) }
    }

    /// Installs handlers for SIGINT, SIGTERM, SIGHUP, SIGPIPE and the crash
    /// signals that remove every pending temporary file, then die of the same
    /// signal as before. Signals the process was started ignoring stay ignored. For programs (the `sheaf` command); a library user who
    /// owns the process's signals can call it or not.
    public static func removeOnFatalSignals() {
        _ = paths
        _ = live.load(ordering: .relaxed)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL] {
            // A signal the process was started ignoring (nohup, a background job)
            // stays ignored.
            // Glibc's SIG_IGN is the function pointer 1, and C function pointers are
            // not comparable in Swift: compare the bits.
            var current = sigaction()
            if sigaction(signal, nil, &current) == 0,
               unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == 1 /* SIG_IGN */ {
                continue
            }
            _ = Glibc.signal(signal) { signal in
                let mask = PendingTemporaryFiles.live.load(ordering: .acquiring)
                for slot in 0..<PendingTemporaryFiles.slotCount where mask & (1 << slot) != 0 {
                    _ = unlink(PendingTemporaryFiles.paths + slot * PendingTemporaryFiles.slotBytes)
                }
                _ = Glibc.signal(signal, SIG_DFL)
                _ = raise(signal)
            }
        }
    }
}
