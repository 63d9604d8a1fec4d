// A helper for the crash-safety tests: checkpoints in a loop (to be killed at
// random moments), or saves under a file-size limit (a disk that fails mid-write).
//
//   sheaf-soak loop DIR START      save steps START, START+1, … forever, printing each durable step
//   sheaf-soak fail DIR STEP LIMIT save STEP with writes limited to LIMIT bytes
import Foundation
import Sheaf

/// The deterministic content of the checkpoint of `step`, so a reader can check it.
func content(step: Int) throws -> StateDict {
    var sd = StateDict()
    var generator = SeededGenerator(seed: UInt64(step))
    sd["weight"] = try Tensor(randomUniform: [256, 64], using: &generator)
    sd["bias"] = try Tensor(shape: [64], scalars: (0..<64).map { Float(step * 64 + $0) })
    sd["big"] = try Tensor(zeros: [step % 3 == 0 ? 300_000 : 1000])
    return sd
}

let arguments = CommandLine.arguments
guard arguments.count >= 4 else {
    FileHandle.standardError.write(Data("usage: sheaf-soak loop DIR START | fail DIR STEP LIMIT\n".utf8))
    exit(2)
}
do {
    let checkpointer = try Checkpointer(directory: arguments[2], keepLast: 2)
    switch arguments[1] {
    case "loop":
        var step = Int(arguments[3]) ?? 0
        while true {
            try checkpointer.save(try content(step: step), step: step, metadata: ["note": "soak"])
            FileHandle.standardOutput.write(Data("\(step)\n".utf8))
            step += 1
        }
    case "fail":
        var limit = rlimit(rlim_cur: rlim_t(Int(arguments[4]) ?? 0), rlim_max: rlim_t.max)
        signal(SIGXFSZ, SIG_IGN)  // a write past the limit then fails with EFBIG instead of killing us
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
        try checkpointer.save(try content(step: Int(arguments[3]) ?? 0), step: Int(arguments[3]) ?? 0)
        FileHandle.standardOutput.write(Data("saved\n".utf8))
    default:
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("sheaf-soak: \(error)\n".utf8))
    exit(1)
}
