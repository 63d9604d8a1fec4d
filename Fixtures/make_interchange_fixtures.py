"""Writes the interchange fixtures with the real tools: PyTorch (torch.save),
NumPy (np.save/savez/savez_compressed), safetensors, h5py; plus crafted hostile
files. `interchange/manifest.json` records, for each file, what a reader must
find (keys, dtypes, shapes, the logical little-endian C-order bytes in hex,
ties, metadata) or which error it must raise. Tests use only the committed
files; torch is needed only to regenerate them.

Run through Fixtures/make_fixtures.sh.
"""
import collections
import io
import json
import os
import shutil
import struct
import sys
import zipfile

import h5py
import numpy as np
import safetensors.numpy
import torch
import safetensors.torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "interchange")
MANIFEST = []

TORCH_DTYPES = {
    "bool": torch.bool, "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
    "int64": torch.int64, "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
    "float64": torch.float64, "complex64": torch.complex64, "complex128": torch.complex128,
    "uint16": torch.uint16, "uint32": torch.uint32, "uint64": torch.uint64,
    "float8_e4m3fn": torch.float8_e4m3fn, "float8_e5m2": torch.float8_e5m2,
}
BITS = {torch.bfloat16: torch.int16, torch.float8_e4m3fn: torch.uint8, torch.float8_e5m2: torch.uint8,
        torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}


def torch_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype in BITS:
        t = t.view(BITS[t.dtype])
    return t.numpy().tobytes()


def np_bytes(a):
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "b":
        return a.astype(np.uint8).tobytes()
    return a.astype(a.dtype.newbyteorder("<")).tobytes()


def entry(key, dtype, shape, raw, tied_to=None):
    return {"key": key, "dtype": dtype, "shape": list(shape), "hex": raw.hex(), "tied_to": tied_to}


def torch_entry(key, t, tied_to=None):
    name = [k for k, v in TORCH_DTYPES.items() if v == t.dtype][0]
    return entry(key, name, t.shape, torch_bytes(t), tied_to)


def record(path, fmt, kind, tensors, metadata=None, notes=None, **extra):
    r = {"path": path, "format": fmt, "valid": True, "kind": kind, "tensors": tensors,
         "metadata": metadata or {}}
    if notes:
        r["notes_contain"] = notes
    r.update(extra)
    MANIFEST.append(r)


def hostile(path, fmt, error, contains, stage="open"):
    MANIFEST.append({"path": path, "format": fmt, "valid": False, "error": error, "message_contains": contains,
                     "stage": stage})


def p(*parts):
    return os.path.join(OUT, *parts)


def sample_torch(name, shape, seed):
    g = torch.Generator().manual_seed(seed)
    dtype = TORCH_DTYPES[name]
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if dtype in (torch.uint16, torch.uint32, torch.uint64):
        return torch.randint(0, 60000, shape, generator=g).to(dtype)
    if not dtype.is_floating_point and not dtype.is_complex:
        return torch.randint(-100, 100, shape, generator=g).to(dtype) if dtype != torch.uint8 else \
            torch.randint(0, 255, shape, generator=g).to(dtype)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * 10).to(dtype)


# -- PyTorch -----------------------------------------------------------------

class MLP(torch.nn.Module):
    """The seed chapter's MLP."""

    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(20, 256)
        self.output = torch.nn.Linear(256, 10)

    def forward(self, x):
        return self.output(torch.nn.functional.relu(self.hidden(x)))


def torch_fixtures():
    os.makedirs(p("torch"))
    x = torch.arange(4)
    torch.save(x, p("torch", "x-file"))
    record("torch/x-file", "torch", "tensor", [torch_entry("0", x)])

    y = torch.zeros(4)
    torch.save([x, y], p("torch", "x-files"))
    record("torch/x-files", "torch", "list", [torch_entry("0", x), torch_entry("1", y)])

    torch.save({"x": x, "y": y}, p("torch", "mydict"))
    record("torch/mydict", "torch", "dict", [torch_entry("x", x), torch_entry("y", y)])

    torch.save((x, y), p("torch", "tuple.pt"))
    record("torch/tuple.pt", "torch", "list", [torch_entry("0", x), torch_entry("1", y)])

    torch.manual_seed(0)
    net = MLP()
    sd = net.state_dict()
    torch.save(sd, p("torch", "mlp.params"))
    record("torch/mlp.params", "torch", "dict", [torch_entry(k, v) for k, v in sd.items()])

    tensors = collections.OrderedDict()
    for i, name in enumerate(TORCH_DTYPES):
        tensors[name] = sample_torch(name, (3, 4), i)
    tensors["scalar"] = torch.tensor(3.5, dtype=torch.float64)
    tensors["empty"] = torch.zeros(0, 3)
    torch.save(tensors, p("torch", "all_dtypes.pt"))
    record("torch/all_dtypes.pt", "torch", "dict", [torch_entry(k, v) for k, v in tensors.items()])

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = collections.OrderedDict()
    views["base"] = base
    views["column"] = base[:, 1]
    views["transposed"] = base.t()
    views["offset_rows"] = base[2:]
    views["strided"] = base[::2, ::3]
    views["expanded"] = torch.arange(3.0).reshape(3, 1).expand(3, 4)
    views["narrow_of_big"] = torch.arange(100, dtype=torch.int64)[10:13]
    torch.save(views, p("torch", "views.pt"))
    record("torch/views.pt", "torch", "dict", [torch_entry(k, v) for k, v in views.items()],
           notes=["views of a storage"])

    emb = torch.nn.Embedding(8, 4)
    head = torch.nn.Linear(4, 8, bias=False)
    head.weight = emb.weight
    model = torch.nn.ModuleDict({"embedding": emb, "head": head})
    tied_sd = model.state_dict()
    torch.save(tied_sd, p("torch", "tied.pt"))
    record("torch/tied.pt", "torch", "dict",
           [torch_entry("embedding.weight", tied_sd["embedding.weight"]),
            torch_entry("head.weight", tied_sd["head.weight"], tied_to="embedding.weight")])

    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    loss = net(torch.randn(2, 20)).sum()
    loss.backward()
    opt.step()
    checkpoint = {"epoch": 3, "model": net.state_dict(), "optimizer": opt.state_dict(), "best_loss": 0.25,
                  "name": "seed-mlp", "done": False, "extra": None}
    torch.save(checkpoint, p("torch", "training_checkpoint.pt"))
    tensors = []
    for k, v in net.state_dict().items():
        tensors.append(torch_entry("model." + k, v))
    for pid, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors.append(torch_entry("optimizer.state.%d.%s" % (pid, name), value))
    group = opt.state_dict()["param_groups"][0]
    meta = {"epoch": {"type": "int", "value": 3}, "best_loss": {"type": "float", "value": 0.25},
            "name": {"type": "string", "value": "seed-mlp"}, "done": {"type": "bool", "value": False},
            "optimizer.param_groups.0.lr": {"type": "float", "value": group["lr"]},
            "optimizer.param_groups.0.params": {"type": "list[int]", "value": group["params"]}}
    record("torch/training_checkpoint.pt", "torch", "dict", tensors, metadata=meta,
           notes=["flattened a nested checkpoint"], metadata_subset=True)

    # A big-endian style check is not possible with torch.save on little-endian hosts;
    # a Parameter (not just a tensor) exercises _rebuild_parameter.
    param = torch.nn.Parameter(torch.ones(2, 2))
    torch.save({"p": param}, p("torch", "parameter.pt"))
    record("torch/parameter.pt", "torch", "dict", [torch_entry("p", param)])

    # Runtime parity: the seed MLP and a Sequential MLP with inputs and PyTorch outputs.
    torch.manual_seed(1)
    net = MLP()
    X = torch.randn(2, 20)
    torch.save(net.state_dict(), p("torch", "seed_mlp.params"))
    np.save(p("torch", "seed_mlp_input.npy"), X.numpy())
    np.save(p("torch", "seed_mlp_output.npy"), net(X).detach().numpy())
    seq = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                              torch.nn.Linear(32, 10))
    Xs = torch.randn(5, 20)
    torch.save(seq.state_dict(), p("torch", "sequential_mlp.pt"))
    np.save(p("torch", "sequential_mlp_input.npy"), Xs.numpy())
    np.save(p("torch", "sequential_mlp_output.npy"), seq(Xs).detach().numpy())
    half = {k: v.half() for k, v in net.state_dict().items()}
    torch.save(half, p("torch", "seed_mlp_float16.params"))
    with torch.no_grad():
        half_net = MLP()
        half_net.load_state_dict({k: v.float() for k, v in half.items()})
        np.save(p("torch", "seed_mlp_float16_output.npy"), half_net(X).numpy())
    bad = net.state_dict()
    bad["hidden.weight"] = torch.zeros(128, 20)
    del bad["output.bias"]
    bad["extra.weight"] = torch.zeros(1)
    torch.save(bad, p("torch", "seed_mlp_wrong.params"))


# -- NumPy -------------------------------------------------------------------

def numpy_fixtures():
    os.makedirs(p("numpy"))
    rng = np.random.default_rng(7)
    a = rng.standard_normal((2, 3)).astype("<f4")
    np.save(p("numpy", "v1.npy"), a)
    record("numpy/v1.npy", "npy", "tensor", [entry("0", "float32", a.shape, np_bytes(a))])
    for version in ((2, 0), (3, 0)):
        with open(p("numpy", "v%d.npy" % version[0]), "wb") as f:
            np.lib.format.write_array(f, a, version=version)
        record("numpy/v%d.npy" % version[0], "npy", "tensor", [entry("0", "float32", a.shape, np_bytes(a))])
    b = rng.standard_normal((3, 2)).astype(">f8")
    np.save(p("numpy", "big_endian.npy"), b)
    record("numpy/big_endian.npy", "npy", "tensor", [entry("0", "float64", b.shape, np_bytes(b))])
    c = np.asfortranarray(np.arange(24, dtype="<i4").reshape(3, 4, 2))
    np.save(p("numpy", "fortran.npy"), c)
    record("numpy/fortran.npy", "npy", "tensor", [entry("0", "int32", c.shape, np_bytes(c))])
    d = np.array(2.5, dtype="<f8")
    np.save(p("numpy", "scalar.npy"), d)
    record("numpy/scalar.npy", "npy", "tensor", [entry("0", "float64", (), np_bytes(d))])
    e = np.zeros((0, 3), dtype="<f4")
    np.save(p("numpy", "empty.npy"), e)
    record("numpy/empty.npy", "npy", "tensor", [entry("0", "float32", (0, 3), b"")])
    all_types = collections.OrderedDict()
    for name, dt in (("bool", "?"), ("uint8", "u1"), ("uint16", "<u2"), ("uint32", "<u4"), ("uint64", "<u8"),
                     ("int8", "i1"), ("int16", "<i2"), ("int32", "<i4"), ("int64", "<i8"), ("float16", "<f2"),
                     ("float32", "<f4"), ("float64", "<f8"), ("complex64", "<c8"), ("complex128", "<c16")):
        if dt == "?":
            arr = rng.integers(0, 2, (2, 3)).astype(bool)
        elif dt[-2] in "iu" or dt[0] in "iu":
            info = np.iinfo(dt)
            arr = rng.integers(info.min, info.max, (2, 3), dtype=np.dtype(dt), endpoint=True)
        elif "c" in dt:
            arr = (rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))).astype(dt)
        else:
            arr = rng.standard_normal((2, 3)).astype(dt)
        all_types[name] = arr
    np.savez(p("numpy", "stored.npz"), **all_types)
    record("numpy/stored.npz", "npz", "dict", [entry(k, k, v.shape, np_bytes(v)) for k, v in all_types.items()])
    np.savez_compressed(p("numpy", "deflated.npz"), **all_types)
    record("numpy/deflated.npz", "npz", "dict", [entry(k, k, v.shape, np_bytes(v)) for k, v in all_types.items()])


# -- safetensors -------------------------------------------------------------

def safetensors_fixtures():
    os.makedirs(p("safetensors"))
    tensors = collections.OrderedDict()
    for i, name in enumerate(TORCH_DTYPES):
        if name in ("complex64", "complex128", "uint16", "uint32", "uint64"):
            continue
        tensors[name] = sample_torch(name, (2, 5), 50 + i)
    tensors["scalar"] = torch.tensor(1.25)
    tensors["empty"] = torch.zeros(0, 4, dtype=torch.int32)
    safetensors.torch.save_file(tensors, p("safetensors", "all_dtypes.safetensors"),
                                metadata={"format": "pt", "note": "fixture"})
    # safetensors sorts by dtype and name; the reader yields data order.
    with open(p("safetensors", "all_dtypes.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    order = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items() if k != "__metadata__")
    record("safetensors/all_dtypes.safetensors", "safetensors", "dict",
           [torch_entry(k, tensors[k]) for _, _, k in order],
           metadata={"format": {"type": "string", "value": "pt"}, "note": {"type": "string", "value": "fixture"}})


# -- plain HDF5 --------------------------------------------------------------

def hdf5_fixtures():
    os.makedirs(p("hdf5"))
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((4, 3)).astype("<f4")
    bias = rng.standard_normal(3).astype("<f4")
    counts = np.arange(5, dtype=">i8")
    with h5py.File(p("hdf5", "keras_like.h5"), "w") as f:
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("model_weights/dense")
        g.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        g.create_dataset("kernel", data=kernel)
        g.create_dataset("bias", data=bias, compression="gzip")
        f.create_dataset("counts", data=counts)
        f.create_dataset("label", data="not a tensor")
        f["model_weights/alias"] = f["model_weights/dense/kernel"]
    record("hdf5/keras_like.h5", "hdf5", "dict",
           [entry("counts", "int64", counts.shape, np_bytes(counts)),
            entry("model_weights.alias", "float32", kernel.shape, np_bytes(kernel)),
            entry("model_weights.dense.bias", "float32", bias.shape, np_bytes(bias)),
            entry("model_weights.dense.kernel", "float32", kernel.shape, np_bytes(kernel),
                  tied_to="model_weights.alias")],
           metadata={"backend": {"type": "string", "value": "tensorflow"},
                     "model_weights.dense@weight_names": {"type": "list[string]", "value": ["dense/kernel:0", "dense/bias:0"]}},
           notes=["skipped /label"])


# -- raw ---------------------------------------------------------------------

def raw_fixtures():
    os.makedirs(p("raw"))
    a = np.arange(6, dtype="<f4").reshape(2, 3) / 4
    a.tofile(p("raw", "little_f32_2x3.bin"))
    record("raw/little_f32_2x3.bin", "raw", "tensor", [entry("0", "float32", (2, 3), np_bytes(a))],
           raw={"shape": "2,3", "dtype": "float32", "byte_order": "little"})
    b = np.arange(4, dtype=">i2")
    b.tofile(p("raw", "big_i16_4.bin"))
    record("raw/big_i16_4.bin", "raw", "tensor", [entry("0", "int16", (4,), np_bytes(b))],
           raw={"shape": "4", "dtype": "int16", "byte_order": "big"})


# -- hostile -----------------------------------------------------------------

def torch_zip(path, pickle_bytes, data=None):
    """A zip laid out like torch.save's, holding a crafted data.pkl."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", "little")
        for key, value in (data or {}).items():
            z.writestr("archive/data/" + key, value)
        z.writestr("archive/version", "3\n")


def hostile_fixtures():
    os.makedirs(p("hostile"))
    h = lambda name: p("hostile", name)

    # NumPy
    with open(h("npy_object.npy"), "wb") as f:
        np.save(f, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    hostile("hostile/npy_object.npy", "npy", "unsupported", "object arrays")
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }" + b" " * 70000 + b"\n"
    with open(h("npy_huge_header.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header)
    hostile("hostile/npy_huge_header.npy", "npy", "limitExceeded", "over the limit")
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }\n"
    with open(h("npy_shape_overflow.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
    hostile("hostile/npy_shape_overflow.npy", "npy", "limitExceeded", "more elements")
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000,), }\n"
    with open(h("npy_truncated.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * 16)
    hostile("hostile/npy_truncated.npy", "npy", "invalidFile", "4000000 bytes")
    header = b"{'descr': '<U4', 'fortran_order': False, 'shape': (1,), }\n"
    with open(h("npy_unicode.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * 16)
    hostile("hostile/npy_unicode.npy", "npy", "unsupported", "string arrays")
    header = b"{'descr': '<f4', 'fortran_order': __import__('os').system('x'), 'shape': (1,), }\n"
    with open(h("npy_code_in_header.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * 4)
    hostile("hostile/npy_code_in_header.npy", "npy", "invalidFile", "npy header")

    # safetensors
    def st(name, header_obj, data=b"", raw_header=None, length=None):
        body = raw_header if raw_header is not None else json.dumps(header_obj).encode()
        with open(h(name), "wb") as f:
            f.write(struct.pack("<Q", length if length is not None else len(body)) + body + data)
    st("st_header_too_big.safetensors", None, raw_header=b"{}", length=200_000_000)
    hostile("hostile/st_header_too_big.safetensors", "safetensors", "limitExceeded", "limit")
    st("st_header_past_end.safetensors", None, raw_header=b"{\"a\":1}", length=5000)
    hostile("hostile/st_header_past_end.safetensors", "safetensors", "invalidFile", "past the end")
    st("st_overlap.safetensors", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\x00" * 12)
    hostile("hostile/st_overlap.safetensors", "safetensors", "invalidFile", "overlap")
    st("st_offsets_past_end.safetensors", {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\x00" * 8)
    hostile("hostile/st_offsets_past_end.safetensors", "safetensors", "invalidFile", "outside")
    st("st_size_mismatch.safetensors", {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\x00" * 8)
    hostile("hostile/st_size_mismatch.safetensors", "safetensors", "shapeMismatch", "needs 12 bytes")
    st("st_unknown_dtype.safetensors", {"a": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}, b"\x00")
    hostile("hostile/st_unknown_dtype.safetensors", "safetensors", "unknownDType", "F4")
    st("st_bad_json.safetensors", None, raw_header=b"{\"a\": [1, 2", )
    hostile("hostile/st_bad_json.safetensors", "safetensors", "invalidFile", "JSON")

    # zip
    with zipfile.ZipFile(h("zip_bomb.npz"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.npy", b"\x00" * 1)
    with open(h("zip_bomb.npz"), "r+b") as f:
        blob = bytearray(f.read())
        cd = blob.rfind(b"PK\x01\x02")
        struct.pack_into("<I", blob, cd + 24, 0x7FFFFFFF)  # claimed uncompressed size
        f.seek(0)
        f.write(blob)
    hostile("hostile/zip_bomb.npz", "npz", "limitExceeded", "ratio")
    with open(h("zip_truncated.npz"), "wb") as f:
        buf = io.BytesIO()
        np.savez(buf, a=np.zeros(1000))
        f.write(buf.getvalue()[:-40])
    hostile("hostile/zip_truncated.npz", "npz", "invalidFile", "zip")

    # pickles (protocol 2 by hand)
    def pickle_of(*ops):
        return b"\x80\x02" + b"".join(ops) + b"."
    torch_zip(h("pickle_os_system.pt"), pickle_of(b"cos\nsystem\n", b"X\x05\x00\x00\x00touch", b"\x85R"))
    hostile("hostile/pickle_os_system.pt", "torch", "unsupported", "os.system")
    torch_zip(h("pickle_eval.pt"), pickle_of(b"cbuiltins\neval\n", b"X\x04\x00\x00\x001+1", b"\x85R"))
    hostile("hostile/pickle_eval.pt", "torch", "unsupported", "builtins.eval")
    torch_zip(h("pickle_getattr.pt"), pickle_of(b"cbuiltins\ngetattr\n", b"ccollections\nOrderedDict\n",
                                                b"X\x03\x00\x00\x00pop", b"\x86R"))
    hostile("hostile/pickle_getattr.pt", "torch", "unsupported", "builtins.getattr")
    torch_zip(h("pickle_nested_reduce.pt"),
              pickle_of(b"ccollections\nOrderedDict\n", b")R", b")R"))
    hostile("hostile/pickle_nested_reduce.pt", "torch", "unsupported", "not an allowed callable")
    torch_zip(h("pickle_huge_memo.pt"), pickle_of(b"}", b"r\xff\xff\xff\x7f", b"j\xfe\xff\xff\x7f"))
    hostile("hostile/pickle_huge_memo.pt", "torch", "invalidFile", "never stored")
    torch_zip(h("pickle_deep_nesting.pt"), b"\x80\x02" + b"(" * 100000 + b"t" * 100000 + b".")
    hostile("hostile/pickle_deep_nesting.pt", "torch", "limitExceeded", "MARK")
    pid = b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x64tQ"
    rebuild = (b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"K\x00K\x64\x85K\x01\x85\x89ccollections\nOrderedDict\n)Rt" + b"R")
    torch_zip(h("pickle_storage_size.pt"), pickle_of(rebuild), {"0": b"\x00" * 16})
    hostile("hostile/pickle_storage_size.pt", "torch", "invalidFile", "claims 100")
    torch_zip(h("pickle_view_past_storage.pt"),
              pickle_of(b"ctorch._utils\n_rebuild_tensor_v2\n(" +
                        pid.replace(b"K\x64tQ", b"K\x04tQ") + b"K\x02K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n)Rt" + b"R"),
              {"0": b"\x00" * 16})
    hostile("hostile/pickle_view_past_storage.pt", "torch", "invalidFile", "reaches element")
    # Found by fuzzing: a list appended to itself (a reference cycle, once a memory leak).
    torch_zip(h("pickle_self_reference.pt"), b"\x80\x02" + b"](2]e.")
    hostile("hostile/pickle_self_reference.pt", "torch", "limitExceeded", "nested deeper")
    # Legacy (pre-1.6) checkpoints, and a truncated one: make_torch_legacy_fixtures.py.
    with open(h("unknown.bin"), "wb") as f:
        f.write(b"just some bytes that are not any tensor format")
    hostile("hostile/unknown.bin", None, "unsupported", "cannot tell the format")


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    torch_fixtures()
    numpy_fixtures()
    safetensors_fixtures()
    hdf5_fixtures()
    raw_fixtures()
    hostile_fixtures()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"generator": "Fixtures/make_interchange_fixtures.py", "torch": torch.__version__,
                   "numpy": np.__version__, "safetensors": safetensors.__version__, "h5py": h5py.version.version,
                   "files": MANIFEST}, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %d interchange fixtures (%d hostile)" % (len(MANIFEST), sum(not r["valid"] for r in MANIFEST)))


if __name__ == "__main__":
    sys.exit(main())
