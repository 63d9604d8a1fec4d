#!/usr/bin/env bash
# Installs the system libraries Sheaf builds against (Debian/Ubuntu, as root or
# with sudo); with --with-python the test virtual environment (.venv: numpy,
# h5py, xxhash, safetensors from PyPI); with --with-mpi Open MPI, for the MPI
# package (MPI/) and its tests. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libhdf5-dev libxxhash-dev zlib1g-dev libopenblas-dev pkg-config python3 python3-venv)
with_python=false
for option in "$@"; do
  case "$option" in
    --with-python) with_python=true ;;
    --with-mpi) packages+=(libopenmpi-dev openmpi-bin) ;;
    *) echo "setup: unknown option $option" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if $with_python; then
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import numpy, h5py, xxhash, safetensors' 2>/dev/null; then
    echo "setup: creating .venv (numpy, h5py, xxhash, safetensors)"
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r Tests/Python/requirements.txt
  fi
fi
