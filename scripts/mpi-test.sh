#!/usr/bin/env bash
# Distributed checkpoints under real MPI (Open MPI, one machine, ranks as
# processes): saves by 4 ranks loaded by 1, 2 and 4 ranks with two shardings,
# the master checked by `sheaf verify`, consolidated by `sheaf convert` and
# read by h5py, and ranks killed with SIGKILL at seeded moments of a save.
# Run by scripts/test.sh after the Swift tests (it needs .build/debug/sheaf
# and .venv); installs Open MPI when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-python --with-mpi
swift build --package-path MPI >/tmp/sheaf-mpi-build.log 2>&1 || { cat /tmp/sheaf-mpi-build.log; echo "the MPI package does not build"; exit 1; }
if grep -E "MPI/Sources/.*: warning:" /tmp/sheaf-mpi-build.log; then echo "the MPI package builds with warnings"; exit 1; fi
swift build --product sheaf >/dev/null
demo=MPI/.build/debug/sheaf-shard-demo
sheaf=.build/debug/sheaf
python=.venv/bin/python
mpirun=(mpirun --oversubscribe --allow-run-as-root --mca btl self,vader)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== save by 4 ranks; load by 1, 2 and 4 ranks, each with the save's sharding and the transposed one"
"${mpirun[@]}" -np 4 "$demo" save "$work/ckpt" --seed 7 --hidden 48 --layers 3
for n in 1 2 4; do
  "${mpirun[@]}" -np "$n" "$demo" load "$work/ckpt"
  "${mpirun[@]}" -np "$n" "$demo" load "$work/ckpt" --transposed
done

echo "== sheaf verify, inspect, convert to one file; h5py reads the master's virtual datasets equal to it"
"$sheaf" verify "$work/ckpt/checkpoint.sheaf"
"$sheaf" inspect "$work/ckpt/checkpoint.sheaf" | head -4
"$sheaf" convert --quiet "$work/ckpt/checkpoint.sheaf" "$work/whole.sheaf"
"$demo" check "$work/whole.sheaf"
(cd / && "$OLDPWD/$python" - "$work/ckpt/checkpoint.sheaf" "$work/whole.sheaf" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as master, h5py.File(sys.argv[2], "r") as whole:
    names = list(whole["tensors"])
    for name in names:
        a, b = master["tensors"][name], whole["tensors"][name]
        assert a.is_virtual, name
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a[()], b[()]), name
print(f"h5py: the master's {len(names)} virtual datasets equal the consolidated file's tensors")
PY
)

echo "== a damaged shard: verify and load fail, exit 1"
cp -r "$work/ckpt" "$work/damaged"
shard="$work/damaged/checkpoint-g00001-rank00002-of-00004.sheaf"
size=$(stat -c %s "$shard")
printf '\xff' | dd of="$shard" bs=1 seek=$((size / 2)) conv=notrunc status=none
if "$sheaf" verify "$work/damaged/checkpoint.sheaf"; then echo "verify passed a damaged shard"; exit 1; fi
if "${mpirun[@]}" -np 2 "$demo" load "$work/damaged" 2>/dev/null; then echo "load passed a damaged shard"; exit 1; fi

echo "== SIGKILL of one rank during a save leaves the previous checkpoint loadable and no partial master"
kills=${SHEAF_KILL_RUNS:-12}
completed=0 interrupted=0
"${mpirun[@]}" -np 4 "$demo" save "$work/kill" --seed 1 --hidden 48 --layers 3 >/dev/null
committed=1
RANDOM=2026  # seeds bash's generator: the same moments and ranks every run
for run in $(seq 1 "$kills"); do
  seed=$((100 + run))
  # A seeded moment and rank: 0-39 ms after the save starts (a save of this
  # size takes 30-90 ms here), rank 0-3.
  delay=$((RANDOM % 40))
  victim=$((RANDOM % 4))
  rm -f "$work/started"
  "${mpirun[@]}" -np 4 "$demo" save "$work/kill" --seed "$seed" --hidden 256 --layers 8 --announce "$work/started" >"$work/save.log" 2>&1 &
  launcher=$!
  for _ in $(seq 1 600); do [ -e "$work/started" ] && break; sleep 0.01; done
  sleep "$(printf '0.%03d' "$delay")"
  pids=($(pgrep -f "^$demo save $work/kill" | sort -n || true))
  killed=no
  if [ "${#pids[@]}" -gt "$victim" ] && kill -9 "${pids[$victim]}" 2>/dev/null; then killed=yes; fi
  wait "$launcher" || true
  # The master is whole: the previous checkpoint, or this save's if it committed first.
  "$sheaf" verify "$work/kill/checkpoint.sheaf" >/dev/null
  found=$("${mpirun[@]}" -np 2 "$demo" load "$work/kill" | sed -n 's/.*"seed": \([0-9]*\).*/\1/p')
  if [ "$found" != "$committed" ] && [ "$found" != "$seed" ]; then
    echo "run $run: the checkpoint has seed $found, expected $committed (previous) or $seed (this save)"; exit 1
  fi
  if [ "$found" = "$seed" ]; then completed=$((completed + 1)); else interrupted=$((interrupted + 1)); fi
  committed=$found
  # Files of the interrupted save (shards, temporaries) stay until the next save commits.
  leftovers=$(( $(ls -A "$work/kill" | wc -l) - 5 ))
  echo "run $run: SIGKILL to rank $victim ${delay} ms into the save (sent: $killed); checkpoint seed $found; leftover files of the interrupted save: $leftovers"
done
echo "kill test: $kills runs, $interrupted interrupted before their commit (previous checkpoint intact), $completed committed before the kill"
