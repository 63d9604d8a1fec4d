import Dispatch
import Glibc

/// Splits `count` items over the cores when there are enough of them.
@inline(__always)
func parallelFor(_ count: Int, minimumChunk: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
    let chunks = min(ProcessorCount.value, max(1, count / max(minimumChunk, 1)))
    if chunks <= 1 { body(0..<count); return }
    let size = (count + chunks - 1) / chunks
    withoutActuallyEscaping(body) { body in
        // The chunks write disjoint ranges; the caller owns the buffers for the call.
        let work = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * size
            if start < count { work.value(start..<min(count, start + size)) }
        }
    }
}

/// Carries a closure into `concurrentPerform`; sound only for the disjoint
/// writes `parallelFor` makes.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

enum ProcessorCount {
    static let value: Int = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}
