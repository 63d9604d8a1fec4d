#!/usr/bin/env bash
# Builds a `sheaf` with the Swift runtime linked statically and packs it with the
# shared libraries it needs (libhdf5, OpenBLAS, …) and the fixtures the GPU check
# uses into .gpu/bundle.tar.xz, for a GPU machine that has no Swift toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --static-swift-stdlib --product sheaf --scratch-path .build-static
rm -rf .gpu/stage && mkdir -p .gpu/stage/lib .gpu/stage/fixtures
cp .build-static/release/sheaf .gpu/stage/
strip .gpu/stage/sheaf   # symbols only; the GPU machine runs it, nobody links against it
# Every shared library except the C library itself, which the target provides.
ldd .build-static/release/sheaf | awk '/=> \// {print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libresolv.so.*) ;;
    *) cp -L "$lib" .gpu/stage/lib/ ;;
  esac
done
cp Fixtures/interchange/torch/seed_mlp.params Fixtures/interchange/torch/seed_mlp_input.npy \
   Fixtures/interchange/torch/seed_mlp_output.npy .gpu/stage/fixtures/
tar -C .gpu/stage -cJf .gpu/bundle.tar.xz .
ls -la .gpu/bundle.tar.xz
