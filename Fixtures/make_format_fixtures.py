"""Writes the format conformance fixtures of Spec/FORMAT.md with h5py alone.

Every valid file here is written by a third party (h5py + numpy + xxhash)
following the spec, to prove Sheaf can be written without this project. Every
invalid file breaks exactly one rule. `format/manifest.json` describes each file:
for valid ones the content (dtype, shape, logical bytes in hex, metadata), for
invalid ones the error a reader (stage "open"/"load") or verifier (stage
"verify") must raise.

Run through Fixtures/make_fixtures.sh, which sets up the virtual environment.
"""
import json
import os
import shutil
import sys

import h5py
import numpy as np
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Python"))
from sheaf_spec import checksum, link_name, logical_bytes, metadata_bytes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "format")
MANIFEST = []

BOOL = h5py.enum_dtype({"FALSE": 0, "TRUE": 1}, basetype=np.int8)
DTYPES = {
    # name: (numpy dtype in the file, how to make sample values)
    "bool": np.dtype(bool),
    "uint8": np.dtype("<u1"), "uint16": np.dtype("<u2"), "uint32": np.dtype("<u4"), "uint64": np.dtype("<u8"),
    "int8": np.dtype("<i1"), "int16": np.dtype("<i2"), "int32": np.dtype("<i4"), "int64": np.dtype("<i8"),
    "float16": np.dtype("<f2"), "float32": np.dtype("<f4"), "float64": np.dtype("<f8"),
    "complex64": np.dtype("<c8"), "complex128": np.dtype("<c16"),
    "bfloat16": np.dtype("<u2"), "float8_e4m3fn": np.dtype("<u1"), "float8_e5m2": np.dtype("<u1"),
}


# §8.2 binary index (version 1.5): the record's compound type, as h5py writes it.
DTYPE_ORDER = ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float16", "bfloat16",
               "float32", "float64", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2"]
STORAGE_ORDER = ["contiguous", "deflate", "packed"]
RECORD = np.dtype({
    "names": ["nbytes", "offset", "checksum", "metadata_checksum", "block_size", "arena_start", "key_length", "tied_to",
              "arena", "dtype", "storage", "rank", "flags"],
    "formats": ["<i8", "<i8", "<u8", "<u8", "<i8", "<i8", "<u4", "<i4", "<i4",
                h5py.enum_dtype({n: i for i, n in enumerate(DTYPE_ORDER)}, basetype="u1"),
                h5py.enum_dtype({n: i for i, n in enumerate(STORAGE_ORDER)}, basetype="u1"), "u1", "u1"],
    "offsets": [0, 8, 16, 24, 32, 40, 48, 52, 56, 60, 61, 62, 63],
    "itemsize": 64,
})


def binary_index(document):
    """The four arrays and the attributes of §8.2 for an index document."""
    entries = document["tensors"]
    records = np.zeros(len(entries), dtype=RECORD)
    keys, shapes, blocks = b"", [], []
    positions = {}
    for i, e in enumerate(entries):
        key = e["key"].encode()
        positions[e["key"]] = i
        r = records[i]
        r["nbytes"] = e["nbytes"]
        r["offset"] = -1 if e.get("offset") is None else e["offset"]
        r["checksum"] = int(e["checksum"], 16)
        r["metadata_checksum"] = int(e["metadata_checksum"], 16) if e.get("metadata_checksum") else 0
        r["block_size"] = e.get("block_size") or 0
        r["arena_start"] = -1 if e.get("arena_start") is None else e["arena_start"]
        r["key_length"] = len(key)
        r["tied_to"] = -1 if e.get("tied_to") is None else positions[e["tied_to"]]
        r["arena"] = -1 if e.get("arena") is None else e["arena"]
        r["dtype"] = DTYPE_ORDER.index(e["dtype"])
        r["storage"] = STORAGE_ORDER.index(e["storage"])
        r["rank"] = len(e["shape"])
        r["flags"] = (1 if e["metadata"] else 0) | (2 if e.get("metadata_checksum") else 0)
        keys += key
        shapes += e["shape"]
        blocks += [int(b, 16) for b in e.get("block_checksums") or []]
    return {"entries": records, "keys": np.frombuffer(keys, dtype=np.uint8), "shapes": np.array(shapes, dtype="<i8"),
            "block_checksums": np.array(blocks, dtype="<u8"), "attrs": {}}


def write_binary_index(f, document, algorithm, raw_index, hook=None):
    """Writes /_sheaf_binary_index (§8.2) for `document`, whose JSON bytes are `raw_index`;
    `hook` may change the arrays and attributes first (to break a rule)."""
    parts = binary_index(document)
    parts["attrs"]["index_checksum"] = checksum(algorithm, raw_index)
    if document.get("metadata_checksum"):
        parts["attrs"]["metadata_checksum"] = document["metadata_checksum"]
    if "structure" in document:
        parts["structure"] = np.frombuffer(json.dumps(document["structure"], separators=(",", ":")).encode(), dtype=np.uint8)
    if hook:
        hook(parts)
    group = f.create_group("_sheaf_binary_index")
    for name, value in parts.pop("attrs").items():
        group.attrs.create(name, value, dtype=h5py.string_dtype("utf-8"))
    for name, array in parts.items():
        if array is None:  # declared, never written
            group.create_dataset(name, shape=(100_000_000,), dtype=np.uint8, track_times=False)
        else:
            group.create_dataset(name, data=array, track_times=False)


def sample(dtype_name, shape, seed):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape)) if shape else 1
    dt = DTYPES[dtype_name]
    if dtype_name == "bool":
        values = rng.integers(0, 2, n).astype(bool)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        values = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    elif dt.kind == "f":
        values = rng.standard_normal(n).astype(dt) * 100
        if n >= 4:
            values[:4] = [np.inf, -np.inf, np.nan, -0.0]
    else:
        values = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dt)
    return values.reshape(shape)


def meta_json(value):
    if isinstance(value, bool):
        return {"type": "bool", "value": value}
    if isinstance(value, int):
        return {"type": "int", "value": value}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    assert isinstance(value, list)
    inner = meta_json(value[0])["type"] if value else "string"
    return {"type": "list[%s]" % inner, "value": value}


def write_attr(obj, name, value):
    if isinstance(value, bool):
        obj.attrs.create(name, np.int8(value), dtype=BOOL)
    elif isinstance(value, int):
        obj.attrs.create(name, value, dtype="<i8")
    elif isinstance(value, float):
        obj.attrs.create(name, value, dtype="<f8")
    elif isinstance(value, str):
        obj.attrs.create(name, value, dtype=h5py.string_dtype("utf-8"))
    elif value and isinstance(value[0], bool):
        obj.attrs.create(name, np.array(value, dtype=np.int8), dtype=BOOL)
    elif value and isinstance(value[0], int):
        obj.attrs.create(name, np.array(value, dtype="<i8"))
    elif value and isinstance(value[0], float):
        obj.attrs.create(name, np.array(value, dtype="<f8"))
    else:
        obj.attrs.create(name, value, dtype=h5py.string_dtype("utf-8"))


class Writer:
    """Writes one Sheaf file the way the spec says, with hooks to break rules."""

    def __init__(self, name, kind="dict", algorithm="xxh3-64", version="1.0", fmt="sheaf"):
        self.path = os.path.join(OUT, name)
        self.f = h5py.File(self.path, "w", alignment_threshold=1, alignment_interval=64, libver="earliest")
        self.kind, self.algorithm = kind, algorithm
        for attr, value in (("sheaf_format", fmt), ("sheaf_version", version), ("sheaf_kind", kind),
                            ("sheaf_checksum", algorithm)):
            if value is not None:
                self.f.attrs.create(attr, value, dtype=h5py.string_dtype("utf-8"))
        self.group = self.f.create_group("tensors")
        self.index = []
        self.expected = []
        self.arenas = {}  # §18: arena number -> {"dtype", "data": bytearray}

    def add_packed(self, key, dtype_name, array, arena, tied_to=None):
        """A packed tensor (§18): its bytes appended to `arena` at a multiple of 64 bytes;
        offset and arena_start are filled in by pack()."""
        raw = logical_bytes(array)
        if tied_to is not None:
            owner = next(e for e in self.index if e["key"] == tied_to)
            self.index.append(dict(owner, key=key, tied_to=tied_to))
            self.expected.append(dict(next(e for e in self.expected if e["key"] == tied_to), key=key, tied_to=tied_to))
            return
        a = self.arenas.setdefault(arena, {"dtype": dtype_name, "data": bytearray()})
        assert a["dtype"] == dtype_name
        start = (len(a["data"]) + 63) // 64 * 64
        a["data"] += b"\0" * (start - len(a["data"])) + raw
        self.index.append({
            "key": key, "dtype": dtype_name, "shape": list(array.shape), "nbytes": len(raw), "storage": "packed",
            "arena": arena, "arena_start": start // DTYPES[dtype_name].itemsize, "offset": None,
            "checksum": checksum(self.algorithm, raw), "tied_to": None, "metadata": False,
        })
        self.expected.append({"key": key, "dtype": dtype_name, "shape": list(array.shape), "hex": raw.hex(),
                              "tied_to": None, "metadata": {}})

    def pack(self, refs_hook=None, external=False, keys_width=None):
        """Writes /_sheaf_packed as §18 gives it: the arenas, then one region reference
        and one key per packed entry in index order; fills in the entries' offsets."""
        group = self.f.create_group("_sheaf_packed")
        datasets = {}
        for number, a in sorted(self.arenas.items()):
            name = a["dtype"]
            file_dtype = BOOL if name == "bool" else DTYPES[name]
            values = np.frombuffer(bytes(a["data"]), dtype=DTYPES[name] if name != "bool" else np.int8)
            if external:  # an arena whose bytes live in another file (§14)
                ds = group.create_dataset(str(number), shape=values.shape, dtype=file_dtype, track_times=False,
                                          external=[("/etc/passwd", 0, values.nbytes)])
            else:
                ds = group.create_dataset(str(number), data=values, dtype=file_dtype, track_times=False)
            ds.attrs.create("sheaf_dtype", name, dtype=h5py.string_dtype("utf-8"))
            datasets[number] = ds
        packed = [e for e in self.index if e["storage"] == "packed"]
        for e in packed:
            ds = datasets[e["arena"]]
            e["offset"] = (ds.id.get_offset() or 0) + e["arena_start"] * ds.dtype.itemsize
        refs = [datasets[e["arena"]].regionref[e["arena_start"]:e["arena_start"] + e["nbytes"] // DTYPES[e["dtype"]].itemsize]
                for e in packed]
        if refs_hook:
            refs = refs_hook(refs)
        group.create_dataset("refs", data=np.array(refs, dtype=h5py.regionref_dtype), dtype=h5py.regionref_dtype,
                             track_times=False)
        width = keys_width or max(len(e["key"].encode()) for e in packed)
        # Fixed-length, NUL-padded UTF-8 (h5py's high-level API converts only ASCII to it).
        string_type = h5py.h5t.C_S1.copy()
        string_type.set_size(width)
        string_type.set_cset(h5py.h5t.CSET_UTF8)
        string_type.set_strpad(h5py.h5t.STR_NULLPAD)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_obj_track_times(False)
        keys = h5py.h5d.create(group.id, b"keys", string_type, h5py.h5s.create_simple((len(packed),)), dcpl=dcpl)
        keys.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array([e["key"].encode() for e in packed], dtype="S%d" % width),
                   mtype=string_type)
        return group

    def add(self, key, dtype_name, array, storage="contiguous", tied_to=None, metadata=None, file_dtype=None,
            record_offset=True, block_size=None):
        name = link_name(key)
        raw = logical_bytes(array)
        if tied_to is not None:
            self.group[name] = self.group[link_name(tied_to)]
            owner = next(e for e in self.index if e["key"] == tied_to)
            entry = dict(owner, key=key, tied_to=tied_to)
            self.index.append(entry)
            self.expected.append(dict(next(e for e in self.expected if e["key"] == tied_to), key=key, tied_to=tied_to))
            return entry
        kwargs = {}
        if storage == "deflate":
            kwargs = dict(chunks=True, shuffle=True, compression="gzip", compression_opts=4)
        dt = file_dtype if file_dtype is not None else (BOOL if dtype_name == "bool" else DTYPES[dtype_name])
        data = array.astype(np.int8) if dtype_name == "bool" else array
        ds = self.group.create_dataset(name, data=data, dtype=dt, track_times=False, **kwargs)
        ds.attrs.create("sheaf_dtype", dtype_name, dtype=h5py.string_dtype("utf-8"))
        for mk, mv in sorted((metadata or {}).items()):
            write_attr(ds, mk, mv)
        offset = ds.id.get_offset()
        def little(dt):
            if dt.fields:
                return all(little(f[0]) for f in dt.fields.values())
            return dt.byteorder in ("<", "|", "=")
        canonical = file_dtype is None or little(file_dtype)
        entry = {
            "key": key, "dtype": dtype_name, "shape": list(array.shape), "nbytes": len(raw),
            "storage": storage,
            "offset": offset if (storage == "contiguous" and len(raw) and record_offset and canonical) else None,
            "checksum": checksum(self.algorithm, raw), "tied_to": None, "metadata": bool(metadata),
        }
        if metadata:
            entry["metadata_checksum"] = checksum(self.algorithm, metadata_bytes(metadata))
        if block_size:
            # §9.1: the checksum of each block_size bytes of the logical bytes.
            entry["block_size"] = block_size
            entry["block_checksums"] = [checksum(self.algorithm, raw[i:i + block_size])
                                        for i in range(0, len(raw), block_size)]
        self.index.append(entry)
        self.expected.append({"key": key, "dtype": dtype_name, "shape": list(array.shape), "hex": raw.hex(),
                              "tied_to": None,
                              "metadata": {k: meta_json(v) for k, v in (metadata or {}).items()}})
        return entry

    def close(self, rule, valid=True, error=None, stage="open", metadata=None, index=None, raw_index=None,
              metadata_checksum=None, load_error=None, binary=False, binary_hook=None, structure=None):
        for mk, mv in sorted((metadata or {}).items()):
            write_attr(self.f, mk, mv)
        if raw_index is None:
            document = {"tensors": self.index if index is None else index}
            if metadata:
                document["metadata_checksum"] = metadata_checksum or checksum(self.algorithm, metadata_bytes(metadata))
            if structure is not None:
                document["structure"] = structure
            raw_index = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        if raw_index is not False:
            self.f.create_dataset("_sheaf_index", data=np.frombuffer(raw_index, dtype=np.uint8), track_times=False)
        if binary:
            write_binary_index(self.f, document, self.algorithm, raw_index, binary_hook)
        self.f.close()
        record = {"path": os.path.relpath(self.path, OUT), "writer": "h5py", "rule": rule, "valid": valid}
        if valid:
            record.update(kind=self.kind, tensors=self.expected,
                          metadata={k: meta_json(v) for k, v in (metadata or {}).items()})
        else:
            record.update(error=error, stage=stage)
            if load_error:
                record.update(load_error=load_error)
        MANIFEST.append(record)


def valid_fixtures():
    w = Writer("valid/all_dtypes.sheaf")
    for i, name in enumerate(DTYPES):
        w.add(name, name, sample(name, (3, 4), i))
    w.close("§5 every dtype in its HDF5 type, xxh3-64 checksums, h5py as the writer")

    w = Writer("valid/block_checksums.sheaf", version="1.2")
    weights = sample("float32", (64, 48), 40)
    w.add("w", "float32", weights, block_size=4096)
    w.add("odd", "int16", sample("int16", (10, 100), 41), block_size=768)
    w.add("small", "float32", sample("float32", (8,), 42))
    w.add("tie", "float32", weights, tied_to="w")
    w.close("§9.1 block checksums (version 1.2): 4096-byte blocks, a shorter last block, a tie carrying them")

    w = Writer("valid/all_dtypes_crc32.sheaf", algorithm="crc32")
    for i, name in enumerate(DTYPES):
        w.add(name, name, sample(name, (5,), 100 + i))
    w.close("§9 crc32 checksums")

    w = Writer("valid/shapes.sheaf")
    w.add("scalar", "float64", np.array(2.5))
    w.add("empty", "float32", np.zeros((0, 3), dtype="<f4"))
    w.add("empty_rank1", "int64", np.zeros((0,), dtype="<i8"))
    w.add("rank32", "int16", sample("int16", tuple([1] * 30 + [2, 3]), 7))
    w.close("§4 0-d scalars, zero-length dimensions, rank 32")

    w = Writer("valid/tensor_kind.sheaf", kind="tensor")
    w.add("0", "int64", np.arange(4, dtype="<i8"))
    w.close("§3 kind tensor: one entry under key 0")

    w = Writer("valid/list_kind.sheaf", kind="list")
    w.add("0", "int64", np.arange(4, dtype="<i8"))
    w.add("1", "float32", np.zeros(4, dtype="<f4"))
    w.add("2", "float32", np.zeros((0,), dtype="<f4"))
    w.close("§3 kind list: keys 0..n-1 in order")

    w = Writer("valid/empty_dict.sheaf")
    w.close("§3 a dict with no entries")

    w = Writer("valid/key_order_and_names.sheaf")
    for i, key in enumerate(["z.weight", "a.bias", "layers.0.weight", "encoder/attn.q", "100%", ".", "..",
                             "é-ключ-键", " spaced key ", "%2F"]):
        w.add(key, "float32", sample("float32", (2,), 300 + i))
    w.close("§3 §4 insertion order kept; keys with '/', '%', '.', non-ASCII map to link names")

    big = {"float32": np.dtype(">f4"), "int64": np.dtype(">i8"), "float16": np.dtype(">f2"),
           "uint16": np.dtype(">u2"), "float64": np.dtype(">f8")}
    w = Writer("valid/big_endian.sheaf")
    for i, (name, dt) in enumerate(big.items()):
        w.add(name, name, sample(name, (4, 3), 400 + i), file_dtype=dt)
    ct = np.dtype([("r", ">f4"), ("i", ">f4")])
    values = sample("complex64", (3,), 450)
    w.add("complex64", "complex64", values, file_dtype=ct)
    w.close("§5 readers accept big-endian types (offset null: not the canonical type)")

    w = Writer("valid/tied.sheaf")
    emb = sample("float32", (8, 4), 500)
    w.add("embedding.weight", "float32", emb)
    w.add("encoder.bias", "float32", sample("float32", (4,), 501))
    w.add("lm_head.weight", "float32", emb, tied_to="embedding.weight")
    w.add("other", "float32", emb.copy())
    w.close("§7 tied keys are hard links to one dataset; equal values in another dataset stay untied")

    w = Writer("valid/metadata.sheaf")
    w.add("w", "float32", sample("float32", (2, 2), 600),
          metadata={"note": "hello", "step": 7, "scale": 0.5, "frozen": True,
                    "names": ["a", "b"], "dims": [1, 2, 3], "weights": [0.25, 0.5], "mask": [True, False]})
    w.add("v", "int32", sample("int32", (2,), 601))
    w.close("§10 typed metadata on the file and on tensors",
            metadata={"epoch": 3, "lr": 0.001, "name": "mlp", "converged": False, "tags": ["x", "y"],
                      "sizes": [20, 256, 10], "losses": [1.5, 0.75], "flags": [True, True], "empty_strings": []})

    w = Writer("valid/deflate.sheaf")
    w.add("zeros", "float32", np.zeros((64, 64), dtype="<f4"), storage="deflate")
    w.add("random", "float64", sample("float64", (33, 17), 700), storage="deflate")
    w.add("bf16", "bfloat16", sample("bfloat16", (100,), 701), storage="deflate")
    w.close("§6 chunked storage with shuffle + deflate")

    w = Writer("valid/newer_minor_with_extras.sheaf", version="1.7")
    w.add("x", "float32", sample("float32", (3,), 800))
    w.f.create_group("extra_group").create_dataset("ignored", data=np.arange(3))
    w.f.attrs["unknown_compound_attr"] = np.zeros(1, dtype=[("a", "<i4"), ("b", "<f4")])
    w.f.attrs["sheaf_future_thing"] = "ignored"
    index = [dict(e, future_member={"nested": True}) for e in w.index]
    w.close("§2 §11 a newer minor version and unknown objects, attributes and index members are ignored",
            index=index)

    w = Writer("valid/packed.sheaf", version="1.4")
    w.add_packed("ln.weight", "float32", sample("float32", (7,), 950), arena=0)
    w.add("big", "float32", sample("float32", (64, 300), 951))
    w.add_packed("ln.bias", "float32", sample("float32", (5,), 952), arena=0)
    w.add_packed("mask", "bool", sample("bool", (3, 3), 953), arena=1)
    w.add_packed("steps", "int64", sample("int64", (), 954), arena=2)
    w.add_packed("emb.weight", "bfloat16", sample("bfloat16", (4, 8), 955), arena=3)
    w.add_packed("head.weight", "bfloat16", None, arena=3, tied_to="emb.weight")
    w.add_packed("later", "float32", sample("float32", (2, 2), 956), arena=4)  # a second float32 arena
    w.add_packed("z", "complex64", sample("complex64", (3,), 957), arena=5)
    w.pack()
    w.close("§18 packed small tensors: arenas per dtype, region references, a tie, a contiguous tensor beside them")

    w = Writer("valid/no_offsets.sheaf")
    w.add("a", "float32", sample("float32", (10,), 900), record_offset=False)
    w.add("b", "int8", sample("int8", (10,), 901), record_offset=False)
    w.close("§8 offset is optional; readers then read through HDF5")


def binary_index_fixtures():
    """§8.2 (version 1.5): files with a binary index beside the JSON, written by h5py."""
    def base(name, version="1.5"):
        w = Writer(name, version=version)
        w.add("emb.weight", "float32", sample("float32", (16, 8), 1200), metadata={"unit": "m"}, block_size=128)
        w.add("head.weight", "float32", None, tied_to="emb.weight")
        w.add("zip", "float64", sample("float64", (33, 5), 1201), storage="deflate")
        w.add("caf\u00e9/\u00fc", "bfloat16", sample("bfloat16", (3, 2), 1202))
        w.add("scalar", "int64", sample("int64", (), 1203))
        w.add("empty", "float16", sample("float16", (0, 4), 1204))
        w.add("bits", "uint8", sample("uint8", (5,), 1205), record_offset=False)
        w.add_packed("ln.bias", "float32", sample("float32", (7,), 1206), arena=0)
        w.add_packed("ln2.bias", "float32", None, arena=0, tied_to="ln.bias")
        w.pack()
        return w

    w = base("valid/binary_index.sheaf")
    w.close("§8.2 a binary index beside the JSON (version 1.5): ties, packed, deflate, block checksums, metadata, "
            "a non-ASCII key, a scalar, an empty tensor, an entry without offset; h5py writes it as a structured array",
            metadata={"epoch": 7}, binary=True)

    w = Writer("valid/binary_index_structure.sheaf", version="1.5")
    w.add("0.w", "float32", sample("float32", (2, 2), 1210))
    w.add("0.b", "float32", sample("float32", (2,), 1211))
    w.close("§8.1 §8.2 the checkpoint structure in the binary index", binary=True,
            structure={"dict": [[0, {"dict": [["w", {"tensor": "0.w"}], ["b", {"tensor": "0.b"}]], "ordered": False}]],
                       "ordered": False})

    def broken(name, rule, hook, error="invalidIndex", stage="open", load_error=None):
        w = base(name)
        w.close(rule, False, error, stage=stage, metadata={"epoch": 7}, binary=True, binary_hook=hook, load_error=load_error)

    def record_type(parts):
        fields = dict(RECORD.fields)
        parts["entries"] = parts["entries"].astype(np.dtype({
            "names": list(RECORD.names), "itemsize": 64,
            "formats": [">i8" if n == "nbytes" else fields[n][0] for n in RECORD.names],
            "offsets": [fields[n][1] for n in RECORD.names]}))
    broken("invalid/binary_index_record_type.sheaf", "§8.2 the record type is exactly the one given (a big-endian member)",
           record_type)

    def key_overrun(parts):
        parts["entries"]["key_length"][-1] += 1
    broken("invalid/binary_index_key_overrun.sheaf", "§8.2 key lengths stay inside the keys dataset", key_overrun)

    def extra_key_bytes(parts):
        parts["keys"] = np.concatenate([parts["keys"], np.frombuffer(b"x", dtype=np.uint8)])
    broken("invalid/binary_index_extra_bytes.sheaf", "§8.2 the records use every byte of keys, shapes and block_checksums",
           extra_key_bytes)

    def forward_tie(parts):
        parts["entries"]["tied_to"][0] = 1
        parts["entries"]["tied_to"][1] = -1
    broken("invalid/binary_index_forward_tie.sheaf", "§7 §8.2 tied_to names an earlier entry", forward_tie)

    def bad_dtype(parts):
        raw = parts["entries"].view(np.uint8).reshape(-1, 64)
        raw[2, 60] = 200
    broken("invalid/binary_index_dtype_value.sheaf", "§8.2 dtype is a value of its enumeration", bad_dtype)

    def past_end(parts):
        parts["entries"]["offset"][3] = 1 << 40
    broken("invalid/binary_index_offset_past_end.sheaf", "§8 §8.2 offset + nbytes inside the file", past_end)

    def flags(parts):
        parts["entries"]["flags"][4] = 4
    broken("invalid/binary_index_flags.sheaf", "§8.2 flags has bits 0 and 1 only", flags)

    def no_checksum_attr(parts):
        del parts["attrs"]["index_checksum"]
    broken("invalid/binary_index_no_index_checksum.sheaf", "§8.2 the group records index_checksum", no_checksum_attr)

    def stale_json_checksum(parts):
        parts["attrs"]["index_checksum"] = "0" * 16
    broken("invalid/binary_index_stale_checksum.sheaf",
           "§8.2 index_checksum is the checksum of the JSON index's bytes (a reader trusts it; a verifier checks it)",
           stale_json_checksum, stage="verify")

    def unwritten_keys(parts):
        # 100 MB of keys declared and never written: nothing is allocated for them (§14's limits).
        parts["keys"] = None
    w = base("invalid/binary_index_unwritten_keys.sheaf")
    w.close("§8.2 §14 a binary index dataset declared far larger than what it stores is refused before anything is allocated",
            False, "limitExceeded", metadata={"epoch": 7}, binary=True, binary_hook=unwritten_keys)
    w = None

    def disagrees(parts):
        # The binary index says (2, 3) where the JSON says (3, 2): a load trusts it, verify reports it.
        parts["shapes"][6:8] = [2, 3]
    broken("invalid/binary_index_disagrees.sheaf",
           "§8.2 the binary index says what the JSON index says (a reader trusts it; a verifier compares them)",
           disagrees, stage="verify")


def invalid_fixtures():
    def simple(name, **kwargs):
        w = Writer(name, **kwargs)
        w.add("x", "float32", sample("float32", (2, 3), 1000))
        return w

    with open(os.path.join(OUT, "invalid/not_hdf5.sheaf"), "w") as f:
        f.write("this is not an HDF5 file\n" * 10)
    MANIFEST.append({"path": "invalid/not_hdf5.sheaf", "writer": "text", "rule": "§2 not HDF5", "valid": False,
                     "error": "notHDF5", "stage": "open"})

    with h5py.File(os.path.join(OUT, "invalid/plain_hdf5.h5"), "w") as f:
        f.create_dataset("dense/kernel", data=np.ones((2, 2), dtype="<f4"))
    MANIFEST.append({"path": "invalid/plain_hdf5.h5", "writer": "h5py", "rule": "§2 HDF5 without sheaf_format",
                     "valid": False, "error": "notSheaf", "stage": "open"})

    simple("invalid/wrong_format_name.sheaf", fmt="safetensors").close("§2 sheaf_format must be 'sheaf'", False, "notSheaf")
    simple("invalid/major_2.sheaf", version="2.0").close("§2 unknown major version is refused", False, "unsupportedVersion")
    simple("invalid/bad_version.sheaf", version="one").close("§2 version must be MAJOR.MINOR", False, "invalidFile")
    simple("invalid/unknown_kind.sheaf", kind="tree").close("§3 unknown kind", False, "unknownKind")
    simple("invalid/unknown_checksum.sheaf", algorithm="md5").close("§9 unknown checksum algorithm", False, "unsupported")

    w = Writer("invalid/unknown_dtype.sheaf")
    e = w.add("x", "float32", sample("float32", (4,), 1001))
    index = [dict(e, dtype="float4_e2m1")]
    w.close("§5 unknown dtype names are refused, never guessed", False, "unknownDType", index=index)

    w = Writer("invalid/dtype_mismatch.sheaf")
    e = w.add("x", "int32", sample("int32", (4,), 1002))
    index = [dict(e, dtype="float32")]
    # An index that disagrees with its dataset: loads trust the index (Spec §8), verify finds it.
    w.close("§5 the HDF5 type must hold the declared dtype", False, "dtypeMismatch", stage="verify", index=index)

    w = Writer("invalid/bfloat16_as_float16_type.sheaf")
    e = w.add("x", "bfloat16", sample("float16", (4,), 1003), file_dtype=np.dtype("<f2"))
    w.close("§5 bfloat16 must be stored as uint16 bits", False, "dtypeMismatch", stage="verify")

    w = Writer("invalid/shape_mismatch.sheaf")
    e = w.add("x", "float32", sample("float32", (2, 3), 1004))
    w.close("§4 §8 index shape must equal the dataspace", False, "shapeMismatch", stage="verify",
            index=[dict(e, shape=[3, 2])])

    w = Writer("invalid/nbytes_mismatch.sheaf")
    e = w.add("x", "float32", sample("float32", (2, 3), 1005))
    w.close("§8 nbytes must equal elements x dtype size", False, "shapeMismatch", index=[dict(e, nbytes=20)])

    w = Writer("invalid/checksum_mismatch.sheaf")
    e = w.add("x", "float32", sample("float32", (2, 3), 1006))
    w.close("§9 data must match its checksum", False, "checksumMismatch", stage="load",
            index=[dict(e, checksum="0123456789abcdef")])

    w = Writer("invalid/bad_checksum_text.sheaf")
    e = w.add("x", "float32", sample("float32", (2, 3), 1007))
    w.close("§8 checksum must be hex of the right width", False, "invalidIndex", index=[dict(e, checksum="xyz")])

    simple("invalid/missing_index.sheaf").close("§8 the index is required", False, "invalidIndex", raw_index=False)
    simple("invalid/index_not_json.sheaf").close("§8 the index must be JSON", False, "invalidIndex", raw_index=b"{not json")

    w = Writer("invalid/duplicate_key.sheaf")
    e = w.add("x", "float32", sample("float32", (2,), 1008))
    w.close("§3 §8 duplicate keys are refused", False, "invalidIndex", index=[e, e])

    w = Writer("invalid/empty_key.sheaf")
    e = w.add("x", "float32", sample("float32", (2,), 1009))
    w.close("§3 empty keys are refused", False, "invalidKey", index=[dict(e, key="")])

    w = Writer("invalid/missing_dataset.sheaf")
    e = w.add("x", "float32", sample("float32", (2,), 1010))
    w.close("§8 every index key has a dataset", False, "invalidIndex", stage="load",
            index=[e, dict(e, key="ghost", offset=None)])

    w = Writer("invalid/offset_past_end.sheaf")
    e = w.add("x", "float32", sample("float32", (2,), 1011))
    w.close("§8 offset + nbytes must lie inside the file", False, "invalidIndex", index=[dict(e, offset=1 << 40)])

    w = Writer("invalid/wrong_offset.sheaf")
    e = w.add("x", "float32", sample("float32", (16,), 1012))
    # A load reads at the index's offset and finds other bytes: their checksum does not match.
    w.close("§8 offset must be the dataset's own", False, "invalidIndex", stage="verify", index=[dict(e, offset=0)],
            load_error="checksumMismatch")

    w = Writer("invalid/tied_to_unknown.sheaf")
    e = w.add("x", "float32", sample("float32", (2,), 1013))
    w.close("§7 tied_to names an earlier key", False, "invalidIndex",
            index=[e, dict(e, key="y", tied_to="nope")])

    w = Writer("invalid/list_bad_keys.sheaf", kind="list")
    w.add("0", "float32", sample("float32", (2,), 1014))
    w.add("2", "float32", sample("float32", (2,), 1015))
    w.close("§3 a list's keys are 0..n-1", False, "invalidIndex")

    w = Writer("invalid/unindexed_dataset.sheaf")
    w.add("x", "float32", sample("float32", (2,), 1016))
    w.group.create_dataset("stray", data=np.zeros(2, dtype="<f4"), track_times=False)
    w.close("§8 §11 every link in /tensors has an index entry", False, "invalidIndex", stage="verify")

    w = Writer("invalid/missing_dtype_attribute.sheaf")
    w.add("x", "float32", sample("float32", (2,), 1017))
    del w.group["x"].attrs["sheaf_dtype"]
    w.close("§4 every tensor dataset carries sheaf_dtype", False, "invalidFile", stage="verify")

    w = Writer("invalid/untied_hard_link.sheaf")
    emb = sample("float32", (2,), 1018)
    a = w.add("a", "float32", emb)
    w.group["b"] = w.group["a"]
    w.close("§7 two keys on one dataset must be declared tied", False, "invalidIndex", stage="verify",
            index=[a, dict(a, key="b")])

    w = Writer("invalid/misaligned.sheaf")
    w.f.close()
    os.remove(w.path)
    w.f = h5py.File(w.path, "w", libver="earliest")
    for attr, value in (("sheaf_format", "sheaf"), ("sheaf_version", "1.0"), ("sheaf_kind", "dict"),
                        ("sheaf_checksum", "xxh3-64")):
        w.f.attrs.create(attr, value, dtype=h5py.string_dtype("utf-8"))
    w.group = w.f.create_group("tensors")
    for i in range(4):
        w.add("t%d" % i, "uint8", sample("uint8", (3 + i,), 1019 + i))
    offsets = [e["offset"] for e in w.index]
    assert any(o % 64 for o in offsets), offsets
    w.close("§6 contiguous data starts at a multiple of 64", False, "invalidFile", stage="verify")

    w = Writer("invalid/block_checksum_mismatch.sheaf", version="1.2")
    e = w.add("w", "float32", sample("float32", (64, 48), 43), block_size=4096)
    blocks = list(e["block_checksums"])
    blocks[1] = "0123456789abcdef"
    # The whole checksum is right: a full load passes; a slice through block 1 and verify do not.
    w.close("§9.1 each block matches its block checksum", False, "checksumMismatch", stage="verify",
            index=[dict(e, block_checksums=blocks)])

    w = Writer("invalid/block_count_mismatch.sheaf", version="1.2")
    e = w.add("w", "float32", sample("float32", (64, 48), 44), block_size=4096)
    w.close("§9.1 one block checksum per block", False, "invalidIndex",
            index=[dict(e, block_checksums=e["block_checksums"][:2])])

    w = Writer("invalid/block_size_alone.sheaf", version="1.2")
    e = w.add("w", "float32", sample("float32", (64, 48), 45), block_size=4096)
    w.close("§9.1 block_size and block_checksums come together", False, "invalidIndex",
            index=[{k: v for k, v in e.items() if k != "block_checksums"}])

    # §18 packed small tensors, each file breaking one rule.
    def packed(name):
        w = Writer(name, version="1.4")
        w.add_packed("a", "float32", sample("float32", (20,), 1100), arena=0)
        w.add_packed("b", "float32", sample("float32", (20,), 1101), arena=0)
        return w

    def edited(w, **changes):
        return [dict(e, **changes) if e["key"] == "b" else e for e in w.index]

    w = packed("invalid/packed_overlap.sheaf")
    w.pack()
    a = w.index[0]
    w.close("§18 untied packed tensors must not overlap", False, "invalidIndex", stage="verify",
            index=edited(w, arena_start=a["arena_start"], offset=a["offset"]), load_error="checksumMismatch")

    w = packed("invalid/packed_wrong_offset.sheaf")
    w.pack()
    w.close("§18 a packed tensor's offset is its arena's offset + arena_start x item size", False, "invalidIndex",
            stage="verify", index=edited(w, offset=w.index[1]["offset"] + 64), load_error="checksumMismatch")

    w = packed("invalid/packed_outside_arena.sheaf")
    w.pack()
    w.close("§18 a packed tensor lies inside its arena", False, "invalidIndex", stage="verify",
            index=edited(w, shape=[40], nbytes=160), load_error="checksumMismatch")

    w = packed("invalid/packed_unaligned.sheaf")
    w.pack()
    w.close("§18 arena_start x item size is a multiple of 64", False, "invalidIndex",
            index=edited(w, arena_start=w.index[1]["arena_start"] + 1))  # the offset itself stays aligned

    w = packed("invalid/packed_missing_arena.sheaf")
    w.pack()
    w.close("§18 a packed tensor's arena exists", False, "invalidIndex", stage="verify", index=edited(w, arena=7))

    w = packed("invalid/packed_with_metadata.sheaf")
    w.pack()
    w.close("§18 a packed tensor carries no metadata", False, "invalidIndex", index=edited(w, metadata=True))

    w = packed("invalid/packed_arena_dtype.sheaf")
    w.pack()
    w.close("§18 a packed tensor has its arena's dtype", False, "dtypeMismatch", stage="verify",
            index=edited(w, dtype="int32"))

    w = packed("invalid/packed_swapped_references.sheaf")
    w.pack(refs_hook=lambda refs: refs[::-1])
    w.close("§18 the i-th region reference selects the i-th packed key's elements", False, "invalidFile", stage="verify")

    w = packed("invalid/packed_keys_too_wide.sheaf")
    w.pack(keys_width=4096)
    w.close("§14 §18 keys is as wide as the longest packed key; a reader bounds what it allocates", False,
            "limitExceeded", stage="verify")

    w = packed("invalid/packed_also_in_tensors.sheaf")
    w.pack()
    w.group.create_dataset("b", data=sample("float32", (20,), 1101), track_times=False)
    w.close("§18 a packed key has no link in /tensors", False, "invalidIndex", stage="verify")

    w = packed("invalid/packed_external_arena.sheaf")
    w.pack(external=True)
    w.close("§14 §18 an arena's bytes are inside the file", False, "unsupported", stage="verify",
            load_error="checksumMismatch")

    w = Writer("invalid/file_metadata_tampered.sheaf")
    w.add("x", "float32", sample("float32", (2,), 1031))
    w.close("§10 file metadata must match its checksum", False, "checksumMismatch",
            metadata={"epoch": 3}, metadata_checksum=checksum("xxh3-64", metadata_bytes({"epoch": 4})))

    w = Writer("invalid/tensor_metadata_tampered.sheaf")
    e = w.add("x", "float32", sample("float32", (2,), 1032), metadata={"unit": "m"})
    w.close("§10 tensor metadata must match its checksum", False, "checksumMismatch", stage="load",
            index=[dict(e, metadata_checksum=checksum("xxh3-64", metadata_bytes({"unit": "cm"})))])

    w = Writer("invalid/metadata_flag_wrong.sheaf")
    e = w.add("x", "float32", sample("float32", (2,), 1030), metadata={"note": "x"})
    w.close("§8 the metadata flag agrees with the attributes", False, "invalidIndex", stage="verify",
            index=[dict(e, metadata=False)])


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(os.path.join(OUT, "valid"))
    os.makedirs(os.path.join(OUT, "invalid"))
    valid_fixtures()
    invalid_fixtures()
    binary_index_fixtures()
    # Valid fixtures must be aligned as the spec asks (h5py cannot turn off the
    # small-data block, so check rather than assume).
    for record in MANIFEST:
        if record["valid"]:
            with h5py.File(os.path.join(OUT, record["path"]), "r") as f:
                index = json.loads(f["_sheaf_index"][()].tobytes())
                for e in index["tensors"]:
                    assert e["offset"] is None or e["offset"] % 64 == 0, (record["path"], e)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"generator": "Fixtures/make_format_fixtures.py", "h5py": h5py.version.version,
                   "hdf5": h5py.version.hdf5_version, "files": MANIFEST}, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %d format fixtures (%d valid, %d invalid)" % (
        len(MANIFEST), sum(r["valid"] for r in MANIFEST), sum(not r["valid"] for r in MANIFEST)))


if __name__ == "__main__":
    sys.exit(main())
