"""Writes distributed-checkpoint fixtures (Spec/FORMAT.md section 17) with h5py alone.

`distributed/valid/` is a checkpoint "saved by two ranks", written by a third
party (h5py + numpy + xxhash) from the spec: two shard files (ordinary Sheaf
files written as make_format_fixtures.py writes them) and a master with h5py
virtual datasets. Each `distributed/<rule>/` folder breaks one rule of section
17. `distributed/manifest.json` gives the valid checkpoint's global tensors
(logical bytes in hex) and, for each invalid one, a part of the error a reader
must raise. Run through Fixtures/make_fixtures.sh.
"""
import json
import os
import shutil
import sys

import h5py
import numpy as np

import make_format_fixtures as fmt
from sheaf_spec import checksum, link_name, logical_bytes, metadata_bytes

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "distributed")
ALGORITHM = "xxh3-64"


def global_tensors():
    """(key, dtype name, array, sharding): rows, columns, replicated."""
    rng = np.random.default_rng(17)
    return [
        ("w", "float32", rng.standard_normal((6, 4)).astype("<f4"), "rows"),
        ("b", "bfloat16", rng.integers(0, 1 << 16, (4, 6)).astype("<u2"), "columns"),
        ("norm", "float32", rng.standard_normal(4).astype("<f4"), "replicated"),
        ("step", "int64", np.array(42, dtype="<i8"), "replicated"),
        ("empty", "float32", np.zeros((0, 3), dtype="<f4"), "rows"),
    ]


def pieces(array, sharding, ranks=2):
    """(rank, start, block) for each rank that writes a piece."""
    if sharding == "replicated" or array.ndim == 0 or array.size == 0:
        return [(0, [0] * array.ndim, array)]
    dim = 0 if sharding == "rows" else 1
    out = []
    for rank in range(ranks):
        lo, hi = rank * array.shape[dim] // ranks, (rank + 1) * array.shape[dim] // ranks
        start = [0] * array.ndim
        start[dim] = lo
        out.append((rank, start, array[lo:hi] if dim == 0 else array[:, lo:hi]))
    return out


def write(folder, rule, break_index=None, shard_name=None):
    """Writes a checkpoint into OUT/folder; `break_index` edits the master's
    index (not its datasets) to break one rule."""
    fmt.OUT = os.path.join(OUT, folder)
    os.makedirs(fmt.OUT)
    names = ["checkpoint-g00001-rank%05d-of-00002.sheaf" % rank for rank in range(2)]
    writers = [fmt.Writer(name, version="1.2") for name in names]
    layout = []
    for key, dtype, array, sharding in global_tensors():
        entry = {"key": key, "dtype": dtype, "shape": list(array.shape), "pieces": []}
        for rank, start, block in pieces(array, sharding):
            writers[rank].add(key, dtype, np.array(block, order="C"), block_size=16)
            entry["pieces"].append({"shard": rank, "start": start, "count": list(block.shape)})
        layout.append(entry)
    for writer in writers:
        writer.close("shard")
    fmt.MANIFEST.clear()
    shards = []
    for name in names:
        with h5py.File(os.path.join(fmt.OUT, name), "r") as f:
            raw = f["_sheaf_index"][()].tobytes()
            shards.append({"file": name, "index_checksum": ALGORITHM + ":" + checksum(ALGORITHM, raw),
                           "tensors": len(json.loads(raw)["tensors"])})
    metadata = {"epoch": 3}
    index = {"distributed": {"version": "1.3", "world_size": 2, "shards": shards},
             "metadata_checksum": checksum(ALGORITHM, metadata_bytes(metadata)), "tensors": layout}
    with h5py.File(os.path.join(fmt.OUT, "checkpoint.sheaf"), "w", libver="earliest") as f:
        for attr, value in (("sheaf_format", "sheaf"), ("sheaf_version", "1.3"), ("sheaf_kind", "distributed"),
                            ("sheaf_checksum", ALGORITHM)):
            f.attrs.create(attr, value, dtype=h5py.string_dtype("utf-8"))
        fmt.write_attr(f, "epoch", 3)
        group = f.create_group("tensors")
        for (key, dtype, array, _), entry in zip(global_tensors(), layout):
            file_dtype = fmt.DTYPES[dtype]
            vds = h5py.VirtualLayout(shape=array.shape, dtype=file_dtype)
            for piece in entry["pieces"]:
                if 0 in piece["count"]:
                    continue
                source = h5py.VirtualSource(shard_name or names[piece["shard"]], "/tensors/" + link_name(key),
                                            shape=tuple(piece["count"]), dtype=file_dtype)
                block = tuple(slice(s, s + c) for s, c in zip(piece["start"], piece["count"]))
                vds[block] = source
            dataset = group.create_virtual_dataset(link_name(key), vds)
            dataset.attrs.create("sheaf_dtype", dtype, dtype=h5py.string_dtype("utf-8"))
        if break_index:
            break_index(index)
        raw = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
        f.create_dataset("_sheaf_index", data=np.frombuffer(raw, dtype=np.uint8), track_times=False)
    return {"path": folder, "rule": rule}


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    records = []
    record = write("valid", "a checkpoint saved by two ranks: rows, columns, replicated, a scalar, an empty tensor")
    record.update(valid=True, metadata={"epoch": 3},
                  tensors=[{"key": k, "dtype": d, "shape": list(a.shape), "hex": logical_bytes(a).hex()}
                           for k, d, a, _ in global_tensors()])
    records.append(record)

    def invalid(folder, rule, error, change):
        r = write(folder, rule, break_index=change)
        r.update(valid=False, error=error)
        records.append(r)

    invalid("overlap", "pieces of a tensor overlap", "overlap",
            lambda i: i["tensors"][0]["pieces"][1]["start"].__setitem__(0, 2))
    invalid("gap", "pieces leave elements uncovered", "cover",
            lambda i: i["tensors"][0]["pieces"].pop())
    invalid("outside_folder", "a shard name that is not a plain file name", "not a file name in the master's folder",
            lambda i: i["distributed"]["shards"][1].__setitem__("file", "../valid/" + i["distributed"]["shards"][1]["file"]))
    invalid("stale_shard", "a shard whose index is not the one recorded", "not the file this checkpoint was saved with",
            lambda i: i["distributed"]["shards"][0].__setitem__("index_checksum", ALGORITHM + ":0123456789abcdef"))
    def grow_norm(i):
        i["tensors"][2]["shape"] = [5]
        i["tensors"][2]["pieces"][0]["count"] = [5]
    invalid("wrong_piece_shape", "a piece whose extent is not the shard tensor's shape", "holds float32 [4]", grow_norm)
    invalid("unplaced_tensor", "a shard holding a key no piece names", "does not place",
            lambda i: i["tensors"].pop(2))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"generator": "Fixtures/make_distributed_fixtures.py", "h5py": h5py.version.version,
                   "hdf5": h5py.version.hdf5_version, "checkpoints": records}, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %d distributed-checkpoint fixtures" % len(records))


if __name__ == "__main__":
    sys.exit(main())
