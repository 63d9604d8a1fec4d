"""Compares a file with its round-tripped copy using the original tool's reader
(NumPy for .npy/.npz, safetensors for .safetensors, h5py for Sheaf), bit for bit.

Usage: check_roundtrip.py ORIGINAL COPY [ORIGINAL COPY ...]
ORIGINAL may be `manifest:PATH`: the tensors Fixtures/interchange/manifest.json
records for PATH, as the tool that wrote it (PyTorch) saw them.
Compares keys, dtypes, shapes and logical bytes.
Prints 'N passed, M failed'; exits 1 on any difference.
"""
import os
import json
import struct
import sys

import h5py
import numpy as np
import safetensors.numpy

from sheaf_spec import link_name, logical_bytes, packed_references, read_entry

# One name per dtype, whatever the format calls it.
NUMPY_NAMES = {"b1": "bool", "u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64", "i1": "int8",
               "i2": "int16", "i4": "int32", "i8": "int64", "f2": "float16", "f4": "float32", "f8": "float64",
               "c8": "complex64", "c16": "complex128"}
SAFETENSORS_NAMES = {"BOOL": "bool", "U8": "uint8", "U16": "uint16", "U32": "uint32", "U64": "uint64", "I8": "int8",
                     "I16": "int16", "I32": "int32", "I64": "int64", "F16": "float16", "BF16": "bfloat16",
                     "F32": "float32", "F64": "float64", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
                     "C64": "complex64"}
MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Fixtures", "interchange", "manifest.json")


def as_bytes(a):
    a = np.asarray(a)
    return NUMPY_NAMES[a.dtype.str.lstrip("<>|=")], a.shape, logical_bytes(a)


def read(path):
    if path.endswith(".npy"):
        return {"0": as_bytes(np.load(path, allow_pickle=False))}
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            return {k: as_bytes(z[k]) for k in z.files}
    if path.startswith("manifest:"):
        with open(MANIFEST) as f:
            record = next(r for r in json.load(f)["files"] if r["path"] == path[len("manifest:"):])
        return {t["key"]: (t["dtype"], tuple(t["shape"]), bytes.fromhex(t["hex"])) for t in record["tensors"]}
    with open(path, "rb") as f:
        head = f.read(8)
    if path.endswith(".safetensors"):
        # The safetensors library opens the file (its Rust core checks the header,
        # the offsets and that they cover the data exactly) and reads every tensor
        # NumPy has a dtype for; its failure is the check failing, never swallowed.
        out = {}
        n = struct.unpack("<Q", head)[0]
        with open(path, "rb") as f:
            f.seek(8)
            header = json.loads(f.read(n))
            data = f.read()
        with safetensors.safe_open(path, framework="numpy") as library:
            keys = set(library.keys())
            assert keys == {k for k in header if k != "__metadata__"}, (sorted(keys), sorted(header))
            for k, v in header.items():
                if k == "__metadata__":
                    continue
                b, e = v["data_offsets"]
                out[k] = (SAFETENSORS_NAMES[v["dtype"]], tuple(v["shape"]), data[b:e])
                if v["dtype"] in ("BF16", "F8_E4M3", "F8_E5M2"):
                    continue  # NumPy has no such dtype; the library checked the layout on open
                loaded = library.get_tensor(k)
                assert as_bytes(loaded) == out[k], k
        return out
    with h5py.File(path, "r") as f:
        index = json.loads(f["_sheaf_index"][()].tobytes())
        out = {}
        where = packed_references(f)
        for e in index["tensors"]:
            out[e["key"]] = (e["dtype"], tuple(e["shape"]), as_bytes(read_entry(f, e, where))[2])
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
            if a[k][0] != b[k][0]:
                problems.append("%s: dtype %s vs %s" % (k, a[k][0], b[k][0]))
            if tuple(a[k][1]) != tuple(b[k][1]) or a[k][2] != b[k][2]:
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
