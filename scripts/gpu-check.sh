#!/usr/bin/env bash
# Runs on a machine with an NVIDIA GPU and no Swift toolchain, from the
# repository root, with .gpu/bundle.tar.xz made by scripts/gpu-bundle.sh.
# Prints: the devices and a CPU-vs-GPU comparison of every operation, the tour,
# and the seed MLP on CPU and GPU with the two outputs diffed.
set -uo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
tar -C "$work" -xJf .gpu/bundle.tar.xz
export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
sheaf="$work/sheaf"
status=0
echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
echo "== sheaf devices --check"; "$sheaf" devices --check || status=1
echo "== sheaf devices --benchmark"; "$sheaf" devices --benchmark || status=1
echo "== sheaf tour"; "$sheaf" tour || status=1
f="$work/fixtures"
echo "== seed MLP on cpu and cuda:0"
"$sheaf" run seed-mlp --params "$f/seed_mlp.params" --input "$f/seed_mlp_input.npy" --output "$work/cpu.npy" --device cpu || status=1
"$sheaf" run seed-mlp --params "$f/seed_mlp.params" --input "$f/seed_mlp_input.npy" --output "$work/gpu.npy" --device cuda:0 || status=1
echo "== diff cpu vs gpu (rtol 1e-5)"; "$sheaf" diff "$work/cpu.npy" "$work/gpu.npy" --rtol 1e-5 --atol 1e-6 || status=1
echo "== diff gpu vs PyTorch (rtol 1e-5)"; "$sheaf" diff "$f/seed_mlp_output.npy" "$work/gpu.npy" --rtol 1e-5 --atol 1e-6 || status=1
echo "== missing-library handling"; SHEAF_CUDA_DRIVER=/nonexistent/libcuda.so.1 "$sheaf" devices || status=1
rm -rf "$work"
echo "gpu-check status: $status"
exit $status
