#!/usr/bin/env bash
# Runs on a machine with an NVIDIA GPU, PyTorch, transformers and safetensors,
# and no Swift toolchain, from the repository root, with .gpu/bundle.tar.xz made
# by scripts/gpu-bundle.sh. Makes a GPT-2 124M (float32) and a TinyLlama-shaped
# 1.1B (bfloat16) safetensors file, converts each to Sheaf, and times loading
# each onto cuda:0: Sheaf through pinned staging buffers (with the page-cache
# and PCIe bounds) and the peers, in one run; as root, also one load of each
# from a cold page cache (the disk).
set -uo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
tar -C "$work" -xJf .gpu/bundle.tar.xz
export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ! ldconfig -p | grep -q 'libcublas.so.1[123]'; then
  cublas=$(find / -name 'libcublas.so.1[123]' -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$cublas" ] && export SHEAF_CUBLAS="$cublas"
fi
sheaf="$work/sheaf"
status=0
echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.max,pcie.link.width.max --format=csv || true
echo "== cpu"; nproc
echo "== make the models"; python3 scripts/gpu-load-bench.py make "$work" || status=1
for name in gpt2 llama; do
  echo "== sheaf convert $name"
  /usr/bin/time -f "convert $name: %e s, peak %M KB" "$sheaf" convert "$work/$name.safetensors" "$work/$name.sheaf" || status=1
  echo "== sheaf devices --benchmark-load $name"
  "$sheaf" devices --benchmark-load "$work/$name.sheaf" --runs 5 || status=1
done
echo "== peers"; python3 scripts/gpu-load-bench.py time "$work" || status=1
if [ -w /proc/sys/vm/drop_caches ]; then
  echo "== cold page cache (one load each, after dropping the cache)"
  for name in gpt2 llama; do "$sheaf" devices --benchmark-load "$work/$name.sheaf" --cold | grep '^load' | sed "s/^/$name /" || status=1; done
  python3 scripts/gpu-load-bench.py cold "$work" || status=1
fi
rm -rf "$work"
echo "gpu-load-bench status: $status"
exit $status
