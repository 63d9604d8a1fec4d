// sheaf-bench: times Sheaf against PyTorch, safetensors, h5py and NumPy on the
// same data in one run, and prints one table per workload (medians, and the
// ratio of Sheaf to the best peer); --json PATH writes the same as JSON.
import Foundation
import CHDF5Floor
import Sheaf
import SheafInterchange
import SheafModels
import SheafRuntime

struct Options {
    var smoke = false
    var runs = 5
    var json: String?
    var python: String?
    var workloads: Set<String> = ["large", "many-small", "model-like", "gpt2-124m", "llama-bf16", "runtime", "models"]
}

// The child of the conversion measurement: convert and exit.
if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "--convert-child" {
    var replace = ExportOptions(); replace.replace = true
    _ = try Exporter.export(try Interchange.open(path: CommandLine.arguments[2]), to: CommandLine.arguments[3], as: .sheaf, options: replace)
    // Peak resident memory of this process image (VmHWM is reset by exec, unlike
    // getrusage's ru_maxrss, which keeps what the forking parent had).
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    print(line.split(separator: " ").dropFirst().first ?? "0")
    exit(0)
}

// A profiling loop: open one file's index N times (for perf).
if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "--open-loop" {
    for _ in 0..<(Int(CommandLine.arguments[3]) ?? 1) { _ = try SheafFile(path: CommandLine.arguments[2]).entries.count }
    exit(0)
}

// The binary index's effect on a lazy open (Spec §8.2): N tensors of 256
// float32 saved with and without it, median of 50 opens each, and the saves.
// With a path after N, the file with the binary index is left there (for --open-loop).
if CommandLine.arguments.count >= 3, CommandLine.arguments[1] == "--index-sweep" {
    var sd = StateDict()
    for i in 0..<(Int(CommandLine.arguments[2]) ?? 10_000) { sd["t\(i)"] = try Tensor(shape: [256], scalars: Array(repeating: Float(i), count: 256)) }
    let keep = CommandLine.arguments.count > 3
    let path = keep ? CommandLine.arguments[3] : FileManager.default.temporaryDirectory.path + "/sheaf-index-sweep-\(getpid()).sheaf"
    defer { if !keep { try? FileManager.default.removeItem(atPath: path) } }
    for threshold in [nil, 0] as [Int?] {
        let save = try time(9) { try sd.save(to: path, options: SaveOptions(binaryIndexThreshold: threshold)) }
        let open = try time(51) { _ = try SheafFile(path: path).entries.count }
        print("\(threshold == nil ? "JSON index  " : "binary index"): save \(save) ms, lazy open \(open) ms (\(sd.count) tensors)")
    }
    exit(0)
}

// A profiling loop: load a whole file N times (for perf).
if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "--load-loop" {
    for _ in 0..<(Int(CommandLine.arguments[3]) ?? 1) { _ = try StateDict(contentsOf: CommandLine.arguments[2]).count }
    exit(0)
}

// A profiling loop: load a file and save it N times (for perf); "unpacked": without packing.
if CommandLine.arguments.count >= 4, CommandLine.arguments[1] == "--save-loop" {
    let sd = try StateDict(contentsOf: CommandLine.arguments[2])
    let options = CommandLine.arguments.last == "unpacked" ? SaveOptions(packingThreshold: nil) : .default
    for _ in 0..<(Int(CommandLine.arguments[3]) ?? 1) { try sd.save(to: CommandLine.arguments[2] + ".copy", options: options) }
    exit(0)
}

// The packing threshold's effect on one file's save (Spec §18): median of N saves per threshold.
if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "--packing-sweep" {
    let sd = try StateDict(contentsOf: CommandLine.arguments[2])
    for threshold in [nil, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20] as [Int?] {
        var samples: [Double] = []
        for _ in 0..<(Int(CommandLine.arguments[3]) ?? 5) {
            let start = DispatchTime.now().uptimeNanoseconds
            try sd.save(to: CommandLine.arguments[2] + ".copy", options: SaveOptions(packingThreshold: threshold))
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        samples.sort()
        let packed = try SheafFile(path: CommandLine.arguments[2] + ".copy").entries.filter { $0.storage == .packed }.count
        print("threshold \(threshold.map(String.init) ?? "none"): \(packed) of \(sd.count) packed, median save \(samples[samples.count / 2]) ms")
    }
    exit(0)
}

var options = Options()
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--smoke": options.smoke = true; options.runs = 2
    case "--runs": options.runs = Int(arguments.next() ?? "") ?? options.runs
    case "--json": options.json = arguments.next()
    case "--python": options.python = arguments.next()
    case "--workloads": options.workloads = Set((arguments.next() ?? "").split(separator: ",").map(String.init))
    default:
        FileHandle.standardError.write(Data("usage: sheaf-bench [--smoke] [--runs N] [--json PATH] [--python PATH] [--workloads a,b]\n".utf8))
        exit(2)
    }
}

/// Median wall time of `runs` calls, in milliseconds, after one warm-up call.
func time(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var samples: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    samples.sort()
    return samples[samples.count / 2]
}

struct Row { var name: String; var ms: Double; var isSheaf: Bool; var note = "" }
var report: [String: [Row]] = [:]
var order: [String] = []

@MainActor func add(_ workload: String, _ row: Row) {
    if report[workload] == nil { order.append(workload) }
    report[workload, default: []].append(row)
}

let folder = FileManager.default.temporaryDirectory.path + "/sheaf-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: folder) }

var generator = SeededGenerator(seed: 1)
@MainActor func random(_ shape: [Int], _ dtype: DType = .float32) throws -> Tensor {
    try Tensor(dtype: dtype, shape: shape) { bytes in
        bytes.withMemoryRebound(to: UInt64.self) { words in
            for i in words.indices { words[i] = generator.next() & 0x3F7F_FFFF_3F7F_FFFF }  // finite floats
        }
    }
}

/// GPT-2 124M (smoke: 2 small layers) and a 0.17B-parameter bfloat16 Llama (smoke: tiny).
let gpt2Configuration: GPT2Configuration = {
    var c = GPT2Configuration()
    if options.smoke { c.layers = 2; c.embeddingSize = 64; c.heads = 4; c.vocabularySize = 1000; c.contextLength = 256 }
    return c
}()
let llamaConfiguration: LlamaConfiguration = {
    var c = LlamaConfiguration()
    c.hiddenSize = options.smoke ? 64 : 1024; c.intermediateSize = options.smoke ? 176 : 2816; c.layers = options.smoke ? 2 : 8
    c.heads = options.smoke ? 4 : 16; c.keyValueHeads = options.smoke ? 2 : 4; c.headSize = options.smoke ? 16 : 64
    c.vocabularySize = options.smoke ? 1000 : 32000
    return c
}()

@MainActor func workload(_ name: String) throws -> StateDict {
    var sd = StateDict()
    switch name {
    case "large":
        let n = options.smoke ? 64 : 2048
        for i in 0..<(options.smoke ? 4 : 24) { sd["layers.\(i).weight"] = try random([n, n]) }
    case "many-small":
        for i in 0..<(options.smoke ? 200 : 10_000) { sd["t\(i)"] = try random([256]) }
    case "gpt2-124m":  // transformers' GPT2LMHeadModel keys (lm_head tied, so not saved), float32
        for (key, tensor) in try GPT2LMHeadModel(gpt2Configuration).stateDict() where key != "lm_head.weight" {
            sd[key] = try random(tensor.shape)
        }
    case "llama-bf16":  // a Llama with grouped-query attention, bfloat16 as Hugging Face ships them
        for (key, tensor) in try LlamaForCausalLM(llamaConfiguration).stateDict() { sd[key] = try random(tensor.shape, .bfloat16) }
    default:  // model-like: a small transformer
        let d = options.smoke ? 64 : 512, vocab = options.smoke ? 500 : 8000
        sd["embed.weight"] = try random([vocab, d], .float16)
        for l in 0..<(options.smoke ? 2 : 24) {
            for p in ["q", "k", "v", "o"] { sd["layers.\(l).attn.\(p).weight"] = try random([d, d], .bfloat16) }
            sd["layers.\(l).mlp.up.weight"] = try random([4 * d, d], .bfloat16)
            sd["layers.\(l).mlp.down.weight"] = try random([d, 4 * d], .bfloat16)
            for p in ["ln1", "ln2"] {
                sd["layers.\(l).\(p).weight"] = try random([d])
                sd["layers.\(l).\(p).bias"] = try random([d])
            }
        }
        sd["norm.weight"] = try random([d])
        sd["head.weight"] = sd["embed.weight"]
    }
    return sd
}

for name in ["large", "many-small", "model-like", "gpt2-124m", "llama-bf16"] where options.workloads.contains(name) {
    let sd = try workload(name)
    let bytes = sd.reduce(0) { $0 + $1.tensor.byteCount }
    let path = folder + "/\(name).sheaf"
    add(name, Row(name: "Sheaf save (checksums + fsync + rename)", ms: try time(options.runs) { try sd.save(to: path) }, isSheaf: true))
    // The same without packing (Spec §18): one HDF5 dataset per tensor.
    add(name, Row(name: "Sheaf save, one dataset per tensor (packing off)", ms: try time(options.runs) {
        try sd.save(to: folder + "/\(name)-unpacked.sheaf", options: SaveOptions(packingThreshold: nil))
    }, isSheaf: true))
    add(name, Row(name: "Sheaf full load (default: index trusted; checksums verified)", ms: try time(options.runs) { _ = try StateDict(contentsOf: path) }, isSheaf: true))
    add(name, Row(name: "Sheaf full load (trustIndex: false; each dataset cross-checked)", ms: try time(options.runs) { _ = try StateDict(contentsOf: path, trustIndex: false) }, isSheaf: true))
    add(name, Row(name: "Sheaf lazy open (keys + shapes)", ms: try time(options.runs) { _ = try SheafFile(path: path).entries.count }, isSheaf: true))
    // The same file without its binary index (Spec §8.2): the JSON index parsed.
    let jsonOnly = folder + "/\(name)-json-index.sheaf"
    try sd.save(to: jsonOnly, options: SaveOptions(binaryIndexThreshold: nil))
    add(name, Row(name: "Sheaf lazy open, JSON index only (binary index off)", ms: try time(options.runs) { _ = try SheafFile(path: jsonOnly).entries.count }, isSheaf: true))
    let key = sd.keys[sd.count / 2]
    add(name, Row(name: "Sheaf lazy open + read one tensor", ms: try time(options.runs) { _ = try SheafFile(path: path).tensor(key) }, isSheaf: true))
    // safetensors of the same data, for the peers and for convert.
    let st = folder + "/\(name).safetensors"
    var untie = ExportOptions(); untie.untie = true; untie.replace = true
    _ = try Exporter.export(try Interchange.open(path: path), to: st, as: .safetensors, options: untie)
    var replace = ExportOptions(); replace.replace = true
    add(name, Row(name: "sheaf convert safetensors -> Sheaf", ms: try time(options.runs) {
        _ = try Exporter.export(try Interchange.open(path: st), to: folder + "/\(name)-converted.sheaf", as: .sheaf, options: replace)
    }, isSheaf: true))
    if name == "large" {
        // Tensor-parallel reads: a quarter of one matrix by rows (its blocks only) and by columns (every row).
        let rows = sd[key]!.shape[0], columns = sd[key]!.shape[1]
        add(name, Row(name: "Sheaf open + slice rows 0..<\(rows / 4) of one tensor (verified blocks)", ms: try time(options.runs) {
            _ = try SheafFile(path: path).tensor(key, slice: [0..<(rows / 4)])
        }, isSheaf: true))
        add(name, Row(name: "Sheaf open + slice columns 0..<\(columns / 4) of one tensor (verified blocks)", ms: try time(options.runs) {
            _ = try SheafFile(path: path).tensor(key, slice: [0..<rows, 0..<(columns / 4)])
        }, isSheaf: true))
    }
    if name == "gpt2-124m" || name == "llama-bf16" {
        // Into the runtime's modules: open, read, verify, convert (bfloat16 to float32), assign.
        add(name, Row(name: "Sheaf load into modules (the runtime's)", ms: try time(options.runs) {
            if name == "gpt2-124m" {
                try GPT2LMHeadModel(gpt2Configuration).loadStateDict(try StateDict(contentsOf: path))
            } else {
                try LlamaForCausalLM(llamaConfiguration).loadStateDict(try StateDict(contentsOf: path))
            }
        }, isSheaf: true, note: name == "llama-bf16" ? "weights widened to float32" : ""))
    }
    if name == "many-small" {
        // The C-level floor: libhdf5 alone creating and writing the same datasets.
        let floor = folder + "/floor.h5"
        let values = [Float](repeating: 1, count: 256)
        let ms = time(options.runs) {
            values.withUnsafeBytes { _ = hdf5_floor_write_many(floor, sd.count, $0.baseAddress, $0.count / 4) }
        }
        add(name, Row(name: "libhdf5 C floor save (compact, no times)", ms: ms, isSheaf: false, note: "floor"))
    }
    // The bandwidth bound: one memcpy of the same bytes.
    let source = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
    let target = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
    memset(source, 1, bytes); memset(target, 0, bytes)
    add(name, Row(name: "memcpy of the same bytes (bound)", ms: time(options.runs) { memcpy(target, source, bytes) }, isSheaf: false, note: "bound"))
    source.deallocate(); target.deallocate()
}

// Converting a large safetensors file: peak resident memory and time against a plain copy.
if options.workloads.contains("convert") || (!options.smoke && options.workloads.contains("large")) {
    let tensors = options.smoke ? 4 : 16
    let side = options.smoke ? 256 : 4096  // 16 x 64 MiB = 1 GiB
    var big = StateDict()
    for i in 0..<tensors { big["w\(i)"] = try random([side, side]) }
    let source = folder + "/big.sheaf", st = folder + "/big.safetensors"
    try big.save(to: source)
    big = StateDict()
    var replace = ExportOptions(); replace.replace = true
    _ = try Exporter.export(try Interchange.open(path: source), to: st, as: .safetensors, options: replace)
    try? FileManager.default.removeItem(atPath: source)
    let bytes = (try FileManager.default.attributesOfItem(atPath: st)[.size] as? Int) ?? 0
    let copy = time(1) { _ = try? FileManager.default.removeItem(atPath: folder + "/copy.bin"); _ = try? FileManager.default.copyItem(atPath: st, toPath: folder + "/copy.bin") }
    try? FileManager.default.removeItem(atPath: folder + "/copy.bin")
    // The conversion runs in a child (this same program) so its peak RSS is its own.
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
    child.arguments = ["--convert-child", st, folder + "/big-converted.sheaf"]
    let output = Pipe()
    child.standardOutput = output
    let start = DispatchTime.now().uptimeNanoseconds
    try child.run()
    let reported = output.fileHandleForReading.readDataToEndOfFile()
    child.waitUntilExit()
    let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    let peak = (Int(String(decoding: reported, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) * 1024
    let largest = side * side * 4
    add("convert", Row(name: "sheaf convert safetensors -> Sheaf, \(bytes >> 20) MiB", ms: ms, isSheaf: true,
                       note: String(format: "peak RSS %d MiB = largest tensor %d MiB + %d MiB; %.2fx a plain copy",
                                    peak >> 20, largest >> 20, (peak - largest) >> 20, ms / copy)))
    add("convert", Row(name: "plain copy of the file", ms: copy, isSheaf: false, note: "bound"))
}

// Verify and inspect scale linearly: many tensors, many attributes. The 100,000-tensor
// file holds empty tensors (every object, attribute and index entry, no raw data):
// saving 100,000 tiny tensors with 64-byte alignment is itself superlinear in
// libhdf5 1.10's free-space search, which the performance work addresses; the
// 10,000-tensor file holds one element each.
if options.workloads.contains("verify") || (!options.smoke && options.workloads.contains("many-small")) {
    let runs = max(1, options.runs / 2)
    for (count, elements) in options.smoke ? [(2_000, 0), (500, 1)] : [(100_000, 0), (10_000, 1)] {
        var many = StateDict()
        for i in 0..<count { many["blocks.\(i).w"] = try Tensor(zeros: [elements], dtype: .float32) }
        for i in 0..<4_000 { many.metadata["attribute\(i)"] = .int(Int64(i)) }
        let path = folder + "/verify-\(count).sheaf"
        let label = "\(count) tensors of \(elements) elements + 4,000 attributes"
        let start = DispatchTime.now().uptimeNanoseconds
        try many.save(to: path)
        add("verify", Row(name: "Sheaf save, \(label)", ms: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6,
                          isSheaf: true, note: "one run"))
        add("verify", Row(name: "SheafFile.verify, \(label)", ms: try time(runs) {
            guard SheafFile.verify(path: path).isEmpty else { throw SheafError(.invalidFile, file: path, "verify found problems") }
        }, isSheaf: true, note: "every rule, every checksum"))
        add("verify", Row(name: "inspect (open + check every dataset), \(label)", ms: try time(runs) {
            _ = try Interchange.open(path: path).entries.count
        }, isSheaf: true))
        add("verify", Row(name: "plain HDF5 import walk of the same file, \(label)", ms: try time(runs) {
            _ = try Interchange.open(path: path, format: .hdf5).entries.count
        }, isSheaf: true))
    }
}

if options.workloads.contains("runtime") {
    let cases: [(String, [Int], Int)] = options.smoke
        ? [("seed MLP batch 1", [20, 256, 10], 1), ("mlp 64-256-64 batch 16", [64, 256, 64], 16)]
        : [("seed MLP batch 1", [20, 256, 10], 1), ("seed MLP batch 64", [20, 256, 10], 64),
           ("seed MLP batch 4096", [20, 256, 10], 4096), ("MLP 1024-4096-1024 batch 256", [1024, 4096, 1024], 256)]
    for (label, sizes, batch) in cases {
        var layers: [Module] = []
        for i in 0..<(sizes.count - 1) { if i > 0 { layers.append(ReLU()) }; layers.append(Linear(sizes[i], sizes[i + 1])) }
        let net = Sequential(layers: layers)
        let x = NDArray.randn([batch, sizes[0]])
        let ms = try time(options.runs * 4) { _ = try net(x) }
        var flops = 0.0
        for i in 0..<(sizes.count - 1) { flops += 2 * Double(batch * sizes[i] * sizes[i + 1]) }
        add("runtime", Row(name: "Sheaf CPU forward, \(label)", ms: ms, isSheaf: true, note: String(format: "%.1f GFLOP/s", flops / ms / 1e6)))
        try net.stateDict().save(to: folder + "/runtime-\(label.replacingOccurrences(of: " ", with: "_")).sheaf")
    }
}

// Real architectures: GPT-2 124M and ResNet-18, random weights, 2 threads (the
// peers set torch to 2 threads too). Smoke sizes keep the shapes' code paths.
if options.workloads.contains("models") {
    var gpt2 = GPT2Configuration()
    if options.smoke { gpt2.layers = 2; gpt2.embeddingSize = 64; gpt2.heads = 4; gpt2.vocabularySize = 1000; gpt2.contextLength = 256 }
    let model = GPT2LMHeadModel(gpt2)
    var weights = StateDict()
    for (key, tensor) in try model.stateDict() where key != "lm_head.weight" {
        var normal = try Tensor(randomNormal: tensor.shape, using: &generator)
        if key.hasSuffix("ln_1.weight") || key.hasSuffix("ln_2.weight") || key.hasSuffix("ln_f.weight") { normal = try Tensor(ones: tensor.shape) }
        weights[key] = try (NDArray(normal) * 0.02).tensor()
    }
    try model.loadStateDict(weights)
    let tokens = options.smoke ? 16 : 128
    let prompt = (0..<tokens).map { ($0 * 7919) % gpt2.vocabularySize }
    let d = gpt2.embeddingSize
    let matmulParameters = Double(gpt2.layers * 12 * d * d + gpt2.vocabularySize * d)
    let forwardFlops = 2 * matmulParameters * Double(tokens)
    let forward = try time(options.runs) { _ = try model.logits(ids: prompt, shape: [1, tokens], cache: nil, lastOnly: false) }
    add("models", Row(name: "Sheaf forward, GPT-2 \(options.smoke ? "small" : "124M") \(tokens) tokens", ms: forward, isSheaf: true,
                      note: String(format: "%.1f GFLOP/s", forwardFlops / forward / 1e6)))
    let steps = options.smoke ? 4 : 32
    // Decoding: the prompt in one pass, then 1-token steps with the KV cache; the median per token.
    var decodeSamples: [Double] = []
    for _ in 0...max(1, options.runs / 2) {
        let cache = KVCache(layers: gpt2.layers)
        _ = try model.logits(ids: prompt, shape: [1, tokens], cache: cache, lastOnly: true)
        let start = DispatchTime.now().uptimeNanoseconds
        for step in 0..<steps { _ = try model.logits(ids: [step], shape: [1, 1], cache: cache, lastOnly: true) }
        decodeSamples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(steps))
    }
    decodeSamples.removeFirst()  // the warm-up
    decodeSamples.sort()
    let decodeSample = decodeSamples[decodeSamples.count / 2]
    let weightBytes = matmulParameters * 4
    add("models", Row(name: "Sheaf decode per token (KV cache, after \(tokens)), GPT-2 \(options.smoke ? "small" : "124M")", ms: decodeSample, isSheaf: true,
                      note: String(format: "%.1f GB/s of weights", weightBytes / decodeSample / 1e6)))
    // The machine's read bandwidth, for scale: summing a 1 GiB array (256 MiB in smoke runs).
    let floats = (options.smoke ? 64 : 256) << 20
    let big = try NDArray(Tensor(zeros: [floats]))
    let read = try time(options.runs) { _ = try big.sum() }
    add("models", Row(name: "bound: one read of \((floats * 4) >> 20) MiB (sum)", ms: read, isSheaf: true,
                      note: String(format: "%.1f GB/s", Double(floats * 4) / read / 1e6)))
    for batch in options.smoke ? [1] : [1, 32] {
        let side = options.smoke ? 64 : 224
        let resnet = ResNet(.resnet18)
        var state = StateDict()
        for (key, tensor) in try resnet.stateDict() {
            if tensor.dtype != .float32 { state[key] = tensor; continue }
            if key.hasSuffix("running_var") { state[key] = try Tensor(ones: tensor.shape); continue }
            state[key] = try (NDArray(try Tensor(randomNormal: tensor.shape, using: &generator)) * 0.05).tensor()
        }
        try resnet.loadStateDict(state)
        let images = NDArray(try Tensor(randomNormal: [batch, 3, side, side], using: &generator))
        let ms = try time(options.runs) { _ = try resnet(images) }
        let flops = 2 * 1.814e9 * Double(batch) * Double(side * side) / (224 * 224)
        add("models", Row(name: "Sheaf forward, ResNet-18 batch \(batch) \(side)x\(side)", ms: ms, isSheaf: true,
                          note: String(format: "%.1f GFLOP/s", flops / ms / 1e6)))
    }
}

// Where a ResNet-18 forward at batch 1 spends its time: each convolution shape
// timed whole, and its GEMM alone (the unfolded matrix already made).
if options.workloads.contains("profile-resnet") {
    let shapes: [(c: Int, o: Int, k: Int, s: Int, side: Int, count: Int)] = [
        (3, 64, 7, 2, 224, 1), (64, 64, 3, 1, 56, 4), (64, 128, 3, 2, 56, 1), (128, 128, 3, 1, 28, 3), (64, 128, 1, 2, 56, 1),
        (128, 256, 3, 2, 28, 1), (256, 256, 3, 1, 14, 3), (128, 256, 1, 2, 28, 1),
        (256, 512, 3, 2, 14, 1), (512, 512, 3, 1, 7, 3), (256, 512, 1, 2, 14, 1)]
    var totalConv = 0.0, totalGemm = 0.0
    for shape in shapes {
        let x = NDArray.randn([1, shape.c, shape.side, shape.side])
        let weight = NDArray.randn([shape.o, shape.c, shape.k, shape.k])
        let pad = shape.k / 2
        let conv = try time(options.runs * 4) { _ = try x.conv2d(weight: weight, bias: nil, stride: (shape.s, shape.s), padding: (pad, pad)) }
        let out = (shape.side + 2 * pad - shape.k) / shape.s + 1
        let a = NDArray.randn([shape.o, shape.c * shape.k * shape.k]), b = NDArray.randn([shape.c * shape.k * shape.k, out * out])
        let gemm = try time(options.runs * 4) { _ = try a.matmul(b) }
        totalConv += conv * Double(shape.count)
        totalGemm += gemm * Double(shape.count)
        print(String(format: "conv %d->%d k%d s%d %dx%d: %.2f ms (GEMM alone %.2f ms) x%d", shape.c, shape.o, shape.k, shape.s, shape.side, shape.side, conv, gemm, shape.count))
    }
    print(String(format: "all convolutions: %.1f ms, their GEMMs alone: %.1f ms", totalConv, totalGemm))
    let stem = NDArray.randn([1, 64, 112, 112])
    print(String(format: "max pool 64x112x112: %.2f ms", try time(options.runs * 4) { _ = try stem.maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }))
    let resnet = ResNet(.resnet18)
    let image = NDArray.randn([1, 3, 224, 224])
    print(String(format: "resnet18 forward (zero weights): %.2f ms", try time(options.runs * 2) { _ = try resnet(image) }))
    let block = NDArray.randn([1, 64, 56, 56])
    let w = NDArray.randn([64, 64, 3, 3])
    let bn = BatchNorm2d(64)
    let conv = Conv2d(64, 64, kernel: (3, 3), padding: (1, 1), bias: false)
    print(String(format: "fused conv+bn+residual+relu 64x56x56: %.2f ms; plain conv %.2f ms", try time(options.runs * 4) { _ = try conv(block, batchNorm: bn, residual: block, relu: true) },
                 try time(options.runs * 4) { _ = try block.conv2d(weight: w, bias: nil, padding: (1, 1)) }))
}

// Peers, through the Python of the benchmark's virtual environment. When they
// were asked for and fail, the run fails (after printing what it measured).
var peersFailed = false
if let python = options.python ?? ProcessInfo.processInfo.environment["SHEAF_BENCH_PYTHON"] {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("peers.py").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [script, folder, String(options.runs)] + (options.smoke ? ["--smoke"] : [])
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if let rows = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] {
        for row in rows {
            add(row["workload"] as! String, Row(name: row["name"] as! String, ms: row["ms"] as! Double, isSheaf: false,
                                                note: row["note"] as? String ?? ""))
        }
    } else {
        FileHandle.standardError.write(Data("peers.py gave no result (exit \(process.terminationStatus))\n".utf8))
        peersFailed = true
    }
}

// Converting the PyTorch checkpoints the peers wrote (when torch is installed).
for name in ["large", "many-small", "model-like", "gpt2-124m"] {
    let pt = folder + "/\(name)-peer.pt"
    guard FileManager.default.fileExists(atPath: pt) else { continue }
    var replace = ExportOptions(); replace.replace = true
    add(name, Row(name: "sheaf convert PyTorch -> Sheaf", ms: try time(options.runs) {
        _ = try Exporter.export(try Interchange.open(path: pt), to: folder + "/\(name)-from-torch.sheaf", as: .sheaf, options: replace)
    }, isSheaf: true))
}

// Tables.
var json: [[String: Any]] = []
for workload in order {
    let rows = report[workload]!
    print("\n## \(workload)\(options.smoke ? " (smoke sizes)" : "")")
    print("| measurement | median ms | Sheaf / best peer | note |")
    print("|---|---:|---:|---|")
    for row in rows {
        // The best peer of the same operation: the fastest non-Sheaf, non-bound row with the same verb.
        func verb(_ name: String) -> String {
            ["slice rows", "slice columns", "into modules", "save", "load", "open", "convert", "forward", "decode"]
                .first { name.lowercased().contains($0) } ?? ""
        }
        let label = row.name.split(separator: ",", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        let peers = rows.filter {
            !$0.isSheaf && $0.note != "bound" && $0.note != "floor" && $0.note != "lazy pages" && !verb(row.name).isEmpty
                && verb($0.name) == verb(row.name) && (label.isEmpty || $0.name.hasSuffix(label))
        }
        let best = peers.map(\.ms).min()
        let ratio = row.isSheaf ? best.map { String(format: "%.2fx", row.ms / $0) } ?? "-" : "-"
        print("| \(row.name) | \(String(format: row.ms < 1 ? "%.4f" : "%.2f", row.ms)) | \(ratio) | \(row.note) |")
        json.append(["workload": workload, "name": row.name, "ms": row.ms, "sheaf": row.isSheaf, "note": row.note])
    }
}
if let path = options.json {
    try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
}
if peersFailed { exit(1) }
