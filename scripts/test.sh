#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-python
swift build --build-tests 2>&1 | tee /tmp/sheaf-build.log | grep -E "(Sources|Tests)/.*: (warning|error):" && { echo "build has warnings or errors"; exit 1; } || true
swift test
