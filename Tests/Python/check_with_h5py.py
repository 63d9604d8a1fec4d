"""Reads Sheaf files written by the Swift library with plain h5py + numpy, as
Spec/FORMAT.md section 13 says a third party would, and compares every tensor
with the `<file>.expected.json` the Swift test wrote beside it.

Usage: check_with_h5py.py FOLDER   (exit 0 when every file matches)
"""
import glob
import json
import os
import sys

import h5py
import numpy as np

from sheaf_spec import checksum, link_name, logical_bytes, metadata_bytes

NATIVE = {"bool": "bool", "float16": "float16", "float32": "float32", "float64": "float64",
          "complex64": "complex64", "complex128": "complex128", "bfloat16": "uint16",
          "float8_e4m3fn": "uint8", "float8_e5m2": "uint8"}


def meta(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [meta(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def check_binary_index(group, index, algorithm, raw_index):
    """Section 8.2: the binary index, read as NumPy structured arrays, says what the JSON says."""
    problems = []
    if group.attrs["index_checksum"] != checksum(algorithm, raw_index):
        problems.append("binary index: index_checksum")
    if group.attrs.get("metadata_checksum") != index.get("metadata_checksum"):
        problems.append("binary index: metadata_checksum")
    records = group["entries"][()]
    dtype_names = {v: k for k, v in h5py.check_enum_dtype(group["entries"].dtype["dtype"]).items()}
    storage_names = {v: k for k, v in h5py.check_enum_dtype(group["entries"].dtype["storage"]).items()}
    keys, shapes, blocks = group["keys"][()].tobytes(), group["shapes"][()].tolist(), group["block_checksums"][()].tolist()
    if len(records) != len(index["tensors"]):
        return problems + ["binary index: %d records" % len(records)]
    k = s = b = 0
    for position, (r, e) in enumerate(zip(records, index["tensors"])):
        key = keys[k:k + int(r["key_length"])].decode()
        k += int(r["key_length"])
        shape = shapes[s:s + int(r["rank"])]
        s += int(r["rank"])
        count = -(-int(r["nbytes"]) // int(r["block_size"])) if r["block_size"] else 0
        block = ["%0*x" % (len(e["checksum"]), v) for v in blocks[b:b + count]]
        b += count
        owner = int(r["tied_to"])
        got = {"key": key, "dtype": dtype_names[int(r["dtype"])], "storage": storage_names[int(r["storage"])],
               "shape": shape, "nbytes": int(r["nbytes"]), "checksum": "%0*x" % (len(e["checksum"]), int(r["checksum"])),
               "offset": None if r["offset"] < 0 else int(r["offset"]),
               "tied_to": None if owner < 0 else index["tensors"][owner]["key"],
               "metadata": bool(r["flags"] & 1),
               "metadata_checksum": "%0*x" % (len(e["checksum"]), int(r["metadata_checksum"])) if r["flags"] & 2 else None,
               "block_size": int(r["block_size"]) or None, "block_checksums": block or None,
               "arena": None if r["arena"] < 0 else int(r["arena"]),
               "arena_start": None if r["arena_start"] < 0 else int(r["arena_start"])}
        want = {name: e.get(name) for name in got}
        if got != want:
            problems.append("binary index entry %d: %r != %r" % (position, got, want))
    if (k, s, b) != (len(keys), len(shapes), len(blocks)):
        problems.append("binary index: unused keys, shapes or block checksums")
    return problems


def check(path, expected):
    problems = []
    with h5py.File(path, "r") as f:
        if f.attrs["sheaf_format"] != "sheaf" or f.attrs["sheaf_kind"] != expected["kind"]:
            problems.append("root attributes")
        algorithm = f.attrs["sheaf_checksum"]
        index = json.loads(f["_sheaf_index"][()].tobytes())
        keys = [e["key"] for e in index["tensors"]]
        if keys != [t["key"] for t in expected["tensors"]]:
            problems.append("keys %r" % keys)
        file_meta = {k: meta(v) for k, v in f.attrs.items() if not k.startswith("sheaf_")}
        if file_meta != expected["metadata"]:
            problems.append("file metadata %r != %r" % (file_meta, expected["metadata"]))
        if index.get("metadata_checksum") != checksum(algorithm, metadata_bytes(file_meta)):
            problems.append("file metadata checksum")
        if "_sheaf_binary_index" in f:
            problems += check_binary_index(f["_sheaf_binary_index"], index, algorithm, f["_sheaf_index"][()].tobytes())
        # Packed tensors (section 18): each key's region reference into its arena.
        where = {}
        if "_sheaf_packed" in f:
            packed = f["_sheaf_packed"]
            where = dict(zip(packed["keys"].asstr()[()], packed["refs"][()]))
        for entry, want in zip(index["tensors"], expected["tensors"]):
            if entry["storage"] == "packed":
                ref = where[entry["key"]]
                ds = f[ref]
                data = ds[ref].reshape(entry["shape"])
                if ds.name != "/_sheaf_packed/%d" % entry["arena"]:
                    problems.append("%s: reference names %s" % (entry["key"], ds.name))
            else:
                ds = f["tensors"][link_name(entry["key"])]
                data = ds[()]
            if ds.attrs["sheaf_dtype"] != want["dtype"]:
                problems.append("%s: sheaf_dtype" % entry["key"])
            if np.dtype(data.dtype).name != NATIVE.get(want["dtype"], want["dtype"]):
                problems.append("%s: h5py reads %s" % (entry["key"], data.dtype))
            if list(np.shape(data)) != want["shape"]:
                problems.append("%s: shape %r" % (entry["key"], np.shape(data)))
            raw = logical_bytes(data)
            if raw.hex() != want["hex"]:
                problems.append("%s: bytes differ" % entry["key"])
            digest = checksum(algorithm, raw)
            if digest != entry["checksum"]:
                problems.append("%s: checksum %s != %s" % (entry["key"], digest, entry["checksum"]))
            if entry["storage"] == "packed":
                if entry["offset"] != ds.id.get_offset() + entry["arena_start"] * ds.dtype.itemsize or entry["offset"] % 64:
                    problems.append("%s: packed offset" % entry["key"])
            elif entry.get("offset") is not None:
                if entry["offset"] != ds.id.get_offset() or entry["offset"] % 64:
                    problems.append("%s: offset" % entry["key"])
            tensor_meta = {k: meta(v) for k, v in ds.attrs.items() if not k.startswith("sheaf_")}
            if tensor_meta != want["metadata"]:
                problems.append("%s: metadata %r" % (entry["key"], tensor_meta))
            if tensor_meta and entry.get("metadata_checksum") != checksum(algorithm, metadata_bytes(tensor_meta)):
                problems.append("%s: metadata checksum" % entry["key"])
            if want.get("tied_to") and entry["storage"] == "packed":
                owner = next(e for e in index["tensors"] if e["key"] == want["tied_to"])
                if (owner["arena"], owner["arena_start"]) != (entry["arena"], entry["arena_start"]):
                    problems.append("%s: not packed where %s is" % (entry["key"], want["tied_to"]))
            elif want.get("tied_to"):
                other = f["tensors"][link_name(want["tied_to"])]
                if h5py.h5o.get_info(ds.id).addr != h5py.h5o.get_info(other.id).addr if hasattr(
                        h5py.h5o.get_info(ds.id), "addr") else ds.id != other.id:
                    problems.append("%s: not a hard link to %s" % (entry["key"], want["tied_to"]))
    return problems


def main():
    passed = failed = 0
    for expected_path in sorted(glob.glob(os.path.join(sys.argv[1], "*.expected.json"))):
        with open(expected_path) as f:
            expected = json.load(f)
        path = expected_path[: -len(".expected.json")]
        problems = check(path, expected)
        if problems:
            failed += 1
            print("FAIL %s: %s" % (os.path.basename(path), "; ".join(problems)))
        else:
            passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
