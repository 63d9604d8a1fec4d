#!/usr/bin/env python3
"""Mutation check: applies one-line breakages of key behaviours, one at a time,
rebuilds, runs the tests that guard each, and reports which mutants survive
(a surviving mutant is a behaviour no test holds). Not run in CI: it rebuilds
once per mutant (about a minute each on two cores).

    python3 scripts/mutants.py            # every mutant
    python3 scripts/mutants.py 3 7        # only mutants 3 and 7
    python3 scripts/mutants.py --list     # the table of mutants

Each mutant: (name, file, exact text, replacement, swift test --filter regex).
The file is always restored, also on interrupt."""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MUTANTS = [
    # The read policy (security).
    ("virtual datasets are read", "Sources/SheafHDF5/HDF5ReadPolicy.swift",
     "if layout == H5D_VIRTUAL.rawValue {", "if false, layout == H5D_VIRTUAL.rawValue {", "SecurityFixtureTests"),
    ("external storage is read", "Sources/SheafHDF5/HDF5ReadPolicy.swift",
     "if external != 0 {", "if external < 0 {", "SecurityFixtureTests"),
    ("soft links are followed in /tensors", "Sources/SheafHDF5/HDF5ReadPolicy.swift",
     "case H5L_TYPE_HARD: return", "case H5L_TYPE_HARD, H5L_TYPE_SOFT: return", "SecurityFixtureTests"),
    ("soft and external links are walked by the HDF5 importer", "Sources/SheafInterchange/HDF5/HDF5Source.swift",
     "guard kind == .hard else {", "guard kind != .userDefined else {", "SecurityFixtureTests"),
    ("no chunk-count cap", "Sources/SheafHDF5/HDF5ReadPolicy.swift",
     "guard chunks <= HDF5ReadLimits.maxChunks else {", "guard chunks >= 0 else {", "SecurityFixtureTests"),
    ("no expansion cap", "Sources/SheafHDF5/HDF5ReadPolicy.swift",
     "return decoded <= (overflow ? Int.max : max(scaled, expansionAllowance))", "return decoded >= 0", "SecurityFixtureTests"),
    ("no attribute-count cap", "Sources/SheafHDF5/HDF5Attributes.swift",
     "guard count <= HDF5ReadLimits.maxAttributes else {", "guard count >= 0 else {", "SecurityFixtureTests"),
    ("forged float attributes are converted", "Sources/SheafHDF5/HDF5Attributes.swift",
     "guard info.isIEEEFloat else {", "guard info.size > 0 else {", "SecurityFixtureTests"),
    ("groups reached twice are walked again", "Sources/SheafInterchange/HDF5/HDF5Source.swift",
     "if let first = groupPaths[address] {", "if let first = groupPaths[address], first == \"\\0\" {", "SecurityFixtureTests"),
    ("colliding dotted keys are accepted", "Sources/SheafInterchange/HDF5/HDF5Source.swift",
     "if let other = keyPaths[key] {", "if let other = keyPaths[key], other == \"\\0\" {", "SecurityFixtureTests"),
    ("the checksum error shows the computed checksum", "Sources/Sheaf/File/SheafFile+Read.swift",
     "the data does not match the index's checksum \\(algorithm.format(entry.checksum))\")",
     "the data does not match the index's checksum \\(algorithm.format(entry.checksum)), data gives \\(algorithm.format(found))\")",
     "SecurityFixtureTests"),
    ("directories are opened as input", "Sources/Sheaf/System/FileDescriptor.swift",
     "guard type == S_IFREG else {", "guard type == S_IFREG || type == S_IFDIR else {", "SecurityFixtureTests"),
    ("the writer keeps over-compressed tensors deflated", "Sources/Sheaf/Writing/SheafWriter.swift",
     "if storage != .contiguous,", "if storage == .deflate(level: -1, chunk: []),", "SecurityFixtureTests"),
    ("the writer accepts more metadata than readers do", "Sources/Sheaf/Writing/SheafWriter.swift",
     "guard metadata.count <= limit else {", "guard metadata.count >= 0 else {", "SecurityFixtureTests"),
    ("an interrupted command leaves its temporary file", "Sources/SheafCLI/SheafCommand.swift",
     "        PendingTemporaryFiles.removeOnFatalSignals()\n", "", "Interruption"),
    ("the isolated reader runs without a memory limit", "Sources/SheafCLI/Probe.swift",
     "setrlimit(Int32(RLIMIT_AS.rawValue), &memory)", "_ = memory", "IsolationLimit"),
    # Integrity and the library's promises.
    ("checksums are not checked on load", "Sources/Sheaf/File/SheafFile+Read.swift",
     "guard found != entry.checksum else { return }", "return", "checksum|Conformance|Damage"),
    ("a failed save is not cleaned up", "Sources/Sheaf/System/AtomicFile.swift",
     "            unlink(temporary)\n", "", "atomicSave|failed save"),
    ("ties are not detected", "Sources/Sheaf/Writing/SheafWriter.swift",
     "entries[owner].1.shape == tensor.shape {",
     "entries[owner].1.shape == [-1] {", "tied|Tied"),
    # The restricted unpickler.
    ("the unpickler resolves any global", "Sources/SheafInterchange/Torch/TorchPicklePolicy.swift",
     "if Self.allowedCallables.contains(full) { return .global(module, name) }",
     "return .global(module, name)", "Interchange|hostile"),
    ("the unpickler calls an allowed global it may only name", "Sources/SheafInterchange/Torch/TorchPicklePolicy.swift",
     "        default:\n            throw SheafError(.unsupported, file: file,\n                             \"pickle calls",
     "        default:\n            return .none\n            throw SheafError(.unsupported, file: file,\n                             \"pickle calls",
     "SecurityFixtureTests|Interchange"),
    # The safetensors reader's rules (the reference implementation's).
    ("safetensors trailing bytes are accepted", "Sources/SheafInterchange/Safetensors/SafetensorsHeader.swift",
     "guard covered == dataSize else {", "guard covered <= dataSize else {", "SafetensorsRules|InterchangeFixture"),
    ("safetensors gaps are accepted", "Sources/SheafInterchange/Safetensors/SafetensorsHeader.swift",
     "guard row.begin <= covered else {", "guard row.begin >= 0 else {", "SafetensorsRules|InterchangeFixture"),
    ("safetensors repeated keys are accepted", "Sources/SheafInterchange/Safetensors/SafetensorsHeader.swift",
     "guard seen.insert(key).inserted else {", "guard seen.insert(key).inserted || true else {", "SafetensorsRules|InterchangeFixture"),
    ("safetensors float shapes are truncated", "Sources/SheafInterchange/Safetensors/SafetensorsHeader.swift",
     "guard case .integer(let number) = item, number >= 0 else {",
     "var number = 0\n                if case .integer(let n) = item { number = n } else if case .number(let d) = item { number = Int(d) }\n                guard number >= 0 else {",
     "SafetensorsRules|InterchangeFixture"),
    # Legacy PyTorch checkpoints.
    ("legacy storage sizes are trusted", "Sources/SheafInterchange/Torch/TorchSource.swift",
     "guard count == UInt64(storage.count) else {", "guard count >= 0 else {", "InterchangeFixture|hostile"),
    ("legacy storages are read from the wrong place", "Sources/SheafInterchange/Torch/TorchSource.swift",
     "offsets[key] = position + 8", "offsets[key] = position", "InterchangeFixture"),
    # Checkpoint structure.
    ("integer dict keys come back as text", "Sources/SheafInterchange/Torch/TorchSource.swift",
     "items.append(CheckpointItem(key: dict.typedKeys[key] ?? .string(key),", "items.append(CheckpointItem(key: .string(key),",
     "nesting"),
    ("a structure naming a missing key is accepted", "Sources/Sheaf/Writing/SheafWriter.swift",
     "if let missing = tensors.first(where: { !keys.contains($0) }) {", "if let missing = tensors.first(where: { $0.isEmpty }) {",
     "StructureRules"),
    # Model folders and sharded checkpoints.
    ("an index may name a shard outside its folder", "Sources/SheafInterchange/ModelFolder/ShardIndex.swift",
     "guard isPlainName(shard) else {", "guard !shard.isEmpty else {", "InterchangeFixture"),
    ("a shard's tensor missing from the index is dropped", "Sources/SheafInterchange/ModelFolder/ShardedSource.swift",
     "if let key = left.keys.min() {", "if let key = left.keys.min(), key.isEmpty {", "InterchangeFixture"),
    ("written shards lack the metadata transformers requires", "Sources/SheafInterchange/ModelFolder/ModelFolderSink.swift",
     "shardMetadata[\"format\"] = .string(\"pt\")", "shardMetadata[\"format\"] = .string(\"np\")", "modelFolders"),
    ("shards exceed the size limit", "Sources/SheafInterchange/ModelFolder/ModelFolderSink.swift",
     "if index > start, size + entry.byteCount > maxShardBytes {", "if index > start, size > 4 * maxShardBytes {", "modelFolders"),
    # The runtime and its architectures (#12): each against the reference libraries' outputs.
    ("rotary embedding rotates the wrong way", "Sources/SheafRuntime/Backend/CPUBackend.swift",
     "out[base + j + half] = b * c + a * s", "out[base + j + half] = b * c - a * s", "ModelParityTests"),
    ("GPT-2 uses erf GELU instead of the tanh form", "Sources/SheafModels/Configuration/Activation.swift",
     'case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh', 'case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .gelu', "ModelParityTests"),
    ("attention ignores the causal mask", "Sources/SheafRuntime/Backend/CPUBackend.swift",
     "let visible = causalOffset.map { min(s, row + $0 + 1) } ?? s", "let visible = s", "ModelParityTests"),
    ("grouped-query heads map to the wrong key/value head", "Sources/SheafRuntime/Backend/CPUBackend.swift",
     "let kv = b * kvHeads + h / group", "let kv = b * kvHeads + h % kvHeads", "ModelParityTests"),
    ("a reshaped array keeps its old shape in its tensor", "Sources/SheafRuntime/Array/NDArray.swift",
     "do { return NDArray(try tensor.reshaped(resolved)) }", "do { _ = try tensor.reshaped(resolved); return NDArray(tensor) }", "ModuleFoundationTests"),
    ("a tied parameter given through one key counts as missing", "Sources/SheafRuntime/Module/Module.swift",
     "stateDict[$0.0] == nil && !present.contains($0.1.identity)", "stateDict[$0.0] == nil", "ModuleFoundationTests|ModelParityTests"),
    ("a plain NDArray property is skipped silently", "Sources/SheafRuntime/Module/Discovery.swift",
     'throw unregistered(owner, name, "holds an NDArray directly")', "return", "ModuleFoundationTests"),
    ("folded batch-norm weights ignore new running means", "Sources/SheafRuntime/Layers/Conv2d.swift",
     "batchNorm.runningMean.value, batchNorm.runningVariance.value]", "batchNorm.runningVariance.value]", "FusedOperationTests"),
    # Partial reads and block checksums (§9.1).
    ("a slice's blocks are not verified", "Sources/Sheaf/File/SheafFile+Slice.swift",
     "guard found == expected else {", "guard found == expected || index > 0 else {", "PartialReadTests"),
    ("only the first block of each stretch read is verified", "Sources/Sheaf/File/SheafFile+Slice.swift",
     "for index in block...last {", "for index in block...block {", "PartialReadTests"),
    ("the run arithmetic ignores the cut dimension's start", "Sources/Sheaf/File/SheafFile+Slice.swift",
     "let base = ranges[cut].lowerBound * strides[cut]", "let base = 0", "PartialReadTests"),
    ("verify does not check block checksums", "Sources/Sheaf/File/SheafFile+Verify.swift",
     "try checkBlocks(tensor, entry)", "_ = tensor", "ConformanceTests"),
    ("a block count that does not match is accepted", "Sources/Sheaf/Index/IndexValidation.swift",
     "guard texts.count == count else {", "guard texts.count <= count else {", "ConformanceTests"),
    ("the index encoder escapes control characters unlike JSONEncoder", "Sources/Sheaf/Index/IndexEncoder.swift",
     'let hex = Array("0123456789abcdef".utf8)', 'let hex = Array("0123456789ABCDEF".utf8)', "IndexEncoderTests"),
    # Distributed checkpoints (Spec §17).
    ("overlapping pieces are accepted", "Sources/Sheaf/Distributed/DistributedIndex.swift",
     "if overlaps { throw bad(", "if overlaps && tensor.pieces.isEmpty { throw bad(", "Distributed"),
    ("a shard that is a symbolic link is followed", "Sources/Sheaf/Distributed/DistributedCheckpoint.swift",
     "guard info.st_mode & S_IFMT == S_IFREG else {", "guard info.st_mode & S_IFMT != S_IFDIR else {", "Distributed"),
    ("a shard name with a folder part is accepted", "Sources/Sheaf/Distributed/DistributedIndex.swift",
     "guard SheafSet.isPlainName(shard.file) else {", "guard !shard.file.isEmpty else {", "Distributed"),
    ("a slice places each piece's part at the piece's start, not the slice's", "Sources/Sheaf/Distributed/DistributedCheckpoint.swift",
     "placement.append((low - range.lowerBound)..<(high - range.lowerBound))", "placement.append(low..<high)", "Distributed"),
    ("replicated pieces are written by every rank", "Sources/Sheaf/Distributed/DistributedCheckpoint+Save.swift",
     "if tensor.pieces.contains(where: { $0.start == piece.start && $0.count == piece.count }) { continue }",
     "if tensor.pieces.contains(where: { $0.start == piece.start && $0.count == piece.count && $0.shard == rank }) { continue }", "Distributed"),
    ("the master is written although a rank failed", "Sources/Sheaf/Distributed/DistributedCheckpoint+Save.swift",
     "if let failed = reports.firstIndex(where: { $0.error != nil || $0.indexChecksum == nil }) {",
     "if let failed = reports.firstIndex(where: { $0.indexChecksum == nil && $0.error == \"\\0\" }) {", "Distributed"),
    ("verify does not compare the virtual mappings", "Sources/Sheaf/Distributed/DistributedCheckpoint+Verify.swift",
     "if found.mappings.sorted(by: order) != wanted.sorted(by: order) {", "if found.mappings.count != wanted.count {", "Distributed"),
    ("the shard's recorded index checksum is not compared", "Sources/Sheaf/Distributed/DistributedCheckpoint.swift",
     "recorded == ShardChecksum(algorithm: file.checksumAlgorithm, value: file.indexChecksum) else {",
     "recorded.algorithm == file.checksumAlgorithm else {", "Distributed"),
    ("verify lets two packed tensors overlap", "Sources/Sheaf/File/SheafFile+Packed.swift",
     "where previous.arena == next.arena && next.start < previous.end {",
     "where previous.arena == next.arena && next.start < previous.start {", "Conformance|PackedTensor"),
    ("a packed entry's offset is not checked against its arena", "Sources/Sheaf/File/SheafFile+Packed.swift",
     "guard offset == arena.offset + placement.start * entry.dtype.itemSize else {",
     "guard offset >= arena.offset else {", "Conformance|PackedTensor"),
    ("an unaligned arena_start is accepted", "Sources/Sheaf/Index/IndexValidation.swift",
     "(start * dtype.itemSize) % alignment == 0 else {", "(start * dtype.itemSize) % 1 == 0 else {", "Conformance|PackedTensor"),
    ("the writer packs tensors without 64-byte alignment", "Sources/Sheaf/Writing/PackedArenas.swift",
     "let start = (before + FormatLayout.alignment - 1) / FormatLayout.alignment * FormatLayout.alignment",
     "let start = before", "PackedTensor|DTypeRoundTrip|PythonInterop"),
    ("verify does not compare the region references", "Sources/Sheaf/File/SheafFile+Packed.swift",
     "if reference.address != arena.address || reference.block != placement.start..<(placement.start + count) {",
     "if reference.address != arena.address {", "Conformance|PackedTensor"),
    ("tensors of exactly the threshold are packed", "Sources/Sheaf/Writing/SheafWriter.swift",
     "tensor.byteCount > 0, tensor.byteCount < threshold, tensor.metadata.isEmpty {",
     "tensor.byteCount > 0, tensor.byteCount <= threshold, tensor.metadata.isEmpty {", "PackedTensor|ConvertCommandTests/packing"),
]


def run(command, **kwargs):
    return subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def main(argv):
    if "--list" in argv:
        for i, m in enumerate(MUTANTS, 1):
            print("%2d  %-55s %s" % (i, m[0], m[1]))
        return 0
    chosen = [int(a) for a in argv] or list(range(1, len(MUTANTS) + 1))
    build = run(["swift", "build", "--build-tests"])
    if build.returncode != 0:
        print(build.stdout[-3000:])
        print("the unmutated tree does not build")
        return 2
    results = []
    for i in chosen:
        name, path, old, new, tests = MUTANTS[i - 1]
        full = os.path.join(ROOT, path)
        original = open(full).read()
        if original.count(old) != 1:
            results.append((i, name, "NOT APPLIED (text not found once)", 0))
            continue
        start = time.time()
        try:
            open(full, "w").write(original.replace(old, new))
            build = run(["swift", "build", "--build-tests"])
            if build.returncode != 0:
                outcome = "killed (does not compile)"
            else:
                test = run(["swift", "test", "--skip-build", "--filter", tests], timeout=420)
                outcome = "killed" if test.returncode != 0 else "SURVIVED"
        except subprocess.TimeoutExpired:
            outcome = "killed (timeout)"
        finally:
            open(full, "w").write(original)
        results.append((i, name, outcome, time.time() - start))
        print("%2d  %-55s %s" % (i, name, outcome), flush=True)
    run(["swift", "build", "--build-tests"])
    print("\n| # | mutation | tests | result |\n|---|---|---|---|")
    for i, name, outcome, _ in results:
        print("| %d | %s | `%s` | %s |" % (i, name, MUTANTS[i - 1][4], outcome))
    survivors = [r for r in results if not r[2].startswith("killed")]
    print("\n%d mutants, %d killed, %d survived or not applied" % (len(results), len(results) - len(survivors), len(survivors)))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
