"""Writes the seed corpus of fuzz-sheaf-binary-index from the h5py-written
fixtures with a binary index (Spec/FORMAT.md section 8.2): for each file, the
layout SheafFuzzEntryPoints.binaryIndex reads (three little-endian 16-bit
counts, the records, the key bytes, the dimensions, the block checksums).

Run with the fixtures' environment: Fixtures/.venv/bin/python Fuzz/make_binary_index_corpus.py
"""
import glob
import os
import struct

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "Corpus", "sheaf-binary-index")
os.makedirs(OUT, exist_ok=True)
for path in sorted(glob.glob(os.path.join(HERE, "..", "Fixtures", "format", "*", "binary_index*.sheaf"))):
    with h5py.File(path, "r") as f:
        group = f["_sheaf_binary_index"]
        records = group["entries"].id
        raw = np.empty(records.shape, dtype=records.dtype)
        records.read(h5py.h5s.ALL, h5py.h5s.ALL, raw)
        keys = group["keys"][()].tobytes()
        shapes = np.asarray(group["shapes"][()], dtype="<i8")
        blocks = np.asarray(group["block_checksums"][()], dtype="<u8")
    header = struct.pack("<HHH", len(raw), len(keys), len(shapes))
    name = os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path) + ".bin"
    with open(os.path.join(OUT, name), "wb") as out:
        out.write(header + raw.tobytes() + keys + shapes.tobytes() + blocks.tobytes())
    print("wrote", name)
