#!/usr/bin/env bash
# Sets up the system libraries on a fresh Debian machine, builds Sheaf and runs
# `sheaf tour`, which replays the seed chapter in Swift.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product sheaf
.build/release/sheaf tour
