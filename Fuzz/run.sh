#!/usr/bin/env bash
# Builds the libFuzzer targets with AddressSanitizer and runs each for SECONDS
# (default 60) on its committed seed corpus, adding what it finds to a scratch
# corpus. A crash leaves its input in Fuzz/artifacts/ and fails the script.
#   bash Fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(npy safetensors zip unpickler sheaf-index sheaf-binary-index)
for t in "${targets[@]}"; do
  [ -f "Sources/FuzzTargets/Target+$t.swift" ] || { echo "no fuzz target '$t' (Sources/FuzzTargets/Target+$t.swift)"; exit 2; }
done
if ! swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --scratch-path .build > .build-log.txt 2>&1; then
  grep -E "error" .build-log.txt; echo "fuzz targets failed to build"; exit 1
fi
mkdir -p artifacts work
status=0
for t in "${targets[@]}"; do
  mkdir -p "work/$t"
  echo "== fuzz-$t for ${seconds}s"
  ./.build/release/fuzz-$t "work/$t" "Corpus/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
       -artifact_prefix="artifacts/$t-" -print_final_stats=1 > "work/$t.log" 2>&1 && code=0 || code=$?
  grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|SUMMARY|INFO: Seed|Done)" "work/$t.log" || true
  if [ "$code" -ne 0 ]; then echo "fuzz-$t exited $code (see Fuzz/work/$t.log)"; status=1; fi
  if ls artifacts/$t-* >/dev/null 2>&1; then echo "fuzz-$t: crash inputs in Fuzz/artifacts"; status=1; fi
done
exit $status
