#!/usr/bin/env bash
# Distributed checkpoints, side by side in one run: Sheaf (sheaf-shard-demo
# under mpirun, one process per rank) against torch.distributed.checkpoint
# (dcp_bench.py under torchrun, gloo on CPU), same keys, shapes, dtypes and
# sharding, 1, 2 and 4 ranks on this one machine, every file fsynced on both
# sides. Prints a table of medians (aggregate GB/s = global bytes / slowest rank).
#   bash Benchmarks/Distributed/run.sh [--runs N] [--hidden H --layers L] [--python PYTHON]
# The default, hidden 1024 and 31 blocks, is a 1 GiB state dict.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=3 hidden=1024 layers=31 python=Fixtures/.venv/bin/python ranks="1 2 4"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --hidden) hidden=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
swift build -c release --package-path MPI >/dev/null
demo=MPI/.build/release/sheaf-shard-demo
torchrun="$(dirname "$python")/torchrun"
mpirun=(mpirun --oversubscribe --allow-run-as-root --mca btl self,vader)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
for n in $ranks; do
  for run in $(seq 1 "$runs"); do
    rm -rf "$work/sheaf" "$work/dcp"
    "${mpirun[@]}" -np "$n" "$demo" save "$work/sheaf" --hidden "$hidden" --layers "$layers" | sed 's/^{/{"system": "sheaf", /' >>"$results"
    "${mpirun[@]}" -np "$n" "$demo" load "$work/sheaf" | sed 's/^{/{"system": "sheaf", /' >>"$results"
    OMP_NUM_THREADS=1 "$torchrun" --nproc-per-node "$n" Benchmarks/Distributed/dcp_bench.py save "$work/dcp" --hidden "$hidden" --layers "$layers" 2>/dev/null | sed 's/^{/{"system": "dcp", /' >>"$results"
    OMP_NUM_THREADS=1 "$torchrun" --nproc-per-node "$n" Benchmarks/Distributed/dcp_bench.py load "$work/dcp" --hidden "$hidden" --layers "$layers" 2>/dev/null | sed 's/^{/{"system": "dcp", /' >>"$results"
  done
done
"$python" - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
by = {}
for r in rows:
    by.setdefault((r["op"], r["ranks"], r["system"]), []).append(r)
print(f"| operation | ranks | Sheaf s (GB/s) | DCP s (GB/s) | Sheaf / DCP time |")
print(f"|---|---|---|---|---|")
for op in ("save", "load"):
    for n in sorted({k[1] for k in by}):
        s, d = by.get((op, n, "sheaf")), by.get((op, n, "dcp"))
        if not s or not d: continue
        ts, td = statistics.median(r["seconds"] for r in s), statistics.median(r["seconds"] for r in d)
        gb = s[0]["bytes"] / 1e9
        print(f"| {op} | {n} | {ts:.3f} ({gb / ts:.2f}) | {td:.3f} ({gb / td:.2f}) | {ts / td:.2f}x |")
print(f"\n{len(rows)} measurements, medians of {min(len(v) for v in by.values())} runs each; {rows[0]['bytes'] / 2**30:.2f} GiB state dict")
PY
