#!/usr/bin/env bash
# Regenerates every committed fixture with the real tools. Installs torch, transformers,
# torchvision, numpy, safetensors, h5py and xxhash from PyPI into Fixtures/.venv (not system-wide).
# Tests never need torch: they use the committed files.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check numpy h5py safetensors xxhash torch ml_dtypes huggingface_hub \
    transformers torchvision keras
fi
.venv/bin/python make_format_fixtures.py
.venv/bin/python make_distributed_fixtures.py
.venv/bin/python make_interchange_fixtures.py
.venv/bin/python make_safetensors_rules_fixtures.py
.venv/bin/python make_torch_legacy_fixtures.py
.venv/bin/python make_model_folder_fixtures.py
.venv/bin/python make_security_fixtures.py
.venv/bin/python make_model_fixtures.py
KERAS_BACKEND=torch .venv/bin/python make_keras_fixtures.py
