#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine and runs every test:
# the Swift test suite, the distributed-checkpoint tests under mpirun (Open MPI
# is installed for them), then (under CI=true, or with --all) the address-sanitized
# suite, the thread-sanitized concurrency tests, a short smoke of each fuzz target
# and of the benchmark harness.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-python
swift build --build-tests >/tmp/sheaf-build.log 2>&1 || { cat /tmp/sheaf-build.log; echo "the build failed"; exit 1; }
if grep -E "(Sources|Tests)/.*: warning:" /tmp/sheaf-build.log; then echo "the build has warnings"; exit 1; fi
swift test
echo "== distributed checkpoints under mpirun"
bash scripts/mpi-test.sh

if [ "${CI:-}" = "true" ] || [ "${1:-}" = "--all" ]; then
  echo "== address sanitizer (the damage and header-mutation tests run above; here they would take too long)"
  ASAN_OPTIONS=detect_leaks=0 swift test --sanitize=address --scratch-path .build-asan --skip "DamageDetection|HeaderMutation"
  echo "== thread sanitizer: the concurrency tests"
  swift test --sanitize=thread --scratch-path .build-tsan --filter "concurrency|readWhileReplacing|noHandleLeaks|DistributedCheckpointTests"
  echo "== fuzz smoke (10 s per target)"
  bash Fuzz/run.sh 10
  echo "== benchmark smoke"
  swift run -c release --package-path Benchmarks sheaf-bench --smoke --python .venv/bin/python
fi
