"""Checks PyTorch checkpoints Sheaf wrote (`--to torch`).

With torch importable (Fixtures/.venv): torch.load(weights_only=True) and
torch.load(mmap=True) of each written file give the original's keys, dtypes,
shapes and bytes, and tied keys share one storage.

Nested checkpoints come back with the same nesting: container and key types,
order, values.

Without torch (CI): the rules torch.load applies, checked with the standard
library: one ARCHIVE/ folder with data.pkl, byteorder "little", version; the
pickle disassembles and names only globals torch's weights-only unpickler
allows; every persistent id names a data member of exactly numel × itemsize
bytes, 64-byte aligned in the file.

    check_torch_zip.py ORIGINAL WRITTEN [ORIGINAL WRITTEN ...]
"""
import io
import pickletools
import struct
import sys
import zipfile

ALLOWED = {"collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_tensor_v3",
           "torch.storage UntypedStorage"} | {f"torch {n}Storage" for n in (
    "Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool", "ComplexFloat",
    "ComplexDouble")} | {f"torch {d}" for d in ("uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e5m2")}
ITEM = {"Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1, "Byte": 1,
        "Bool": 1, "ComplexFloat": 8, "ComplexDouble": 16}


def structure(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        roots = {n.split("/")[0] for n in names}
        assert len(roots) == 1, f"{path}: members under {roots}"
        root = roots.pop()
        assert z.read(f"{root}/byteorder") == b"little"
        assert z.read(f"{root}/version").strip() == b"3"
        data = z.read(f"{root}/data.pkl")
        pickletools.dis(data, out=io.StringIO())
        ops = list(pickletools.genops(data))
        for op, arg, _ in ops:
            if op.name == "GLOBAL":
                assert arg in ALLOWED, f"{path}: global {arg!r} is not one torch's weights-only unpickler allows"
        with open(path, "rb") as f:
            raw = f.read()
        for info in z.infolist():
            if "/data/" in info.filename:
                name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
                start = info.header_offset + 30 + name_len + extra_len
                assert start % 64 == 0, f"{info.filename} data at {start}, not 64-byte aligned"
        # Persistent ids: ('storage', class, key, 'cpu', numel) built by MARK ... TUPLE before BINPERSID.
        strings, count = [], 0
        for i, (op, arg, _) in enumerate(ops):
            if op.name == "BINPERSID":
                window = [a for o, a, _ in ops[max(0, i - 6):i] if o.name in ("GLOBAL", "BINUNICODE", "BININT1", "BININT2", "BININT")]
                cls, key, numel = window[-4], window[-3], window[-1]
                member = z.getinfo(f"{root}/data/{key}")
                kind = cls.split(" ")[1]
                size = numel if kind == "UntypedStorage" else numel * ITEM[kind[:-len("Storage")]]
                assert member.file_size == size, f"{key}: {member.file_size} bytes, numel says {size}"
                count += 1
        return count


def with_torch(original, written):
    import torch

    def same(x, y, path):
        """The same nesting (container types, key types, order), tensors bit for bit, values and their types."""
        assert type(x) is type(y), (path, type(x), type(y))
        if isinstance(x, dict):
            assert [(type(k), k) for k in x] == [(type(k), k) for k in y], (path, list(x), list(y))
            for k in x:
                same(x[k], y[k], f"{path}.{k}")
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y), path
            for i, (u, v) in enumerate(zip(x, y)):
                same(u, v, f"{path}.{i}")
        elif isinstance(x, torch.Tensor):
            assert (x.dtype, x.shape) == (y.dtype, y.shape), (path, x.dtype, y.dtype, x.shape, y.shape)
            assert x.contiguous().reshape(-1).view(torch.uint8).equal(y.contiguous().reshape(-1).view(torch.uint8)), path
        else:
            assert x == y, (path, x, y)

    def flat(x):
        if isinstance(x, torch.Tensor):
            return {"0": x}
        if isinstance(x, (list, tuple)):
            return {str(i): v for i, v in enumerate(x)}
        return dict(x)

    loaded = torch.load(original, weights_only=True)
    a = flat(loaded)
    for mmap in (False, True):
        same(loaded, torch.load(written, weights_only=True, mmap=mmap), "")
    b = flat(torch.load(written, weights_only=True))
    a = {k: v for k, v in a.items() if isinstance(v, torch.Tensor)}
    ties = {(p, q) for p in a for q in a if p < q and a[p].untyped_storage().data_ptr() == a[q].untyped_storage().data_ptr()
            and a[p].shape == a[q].shape and a[p].storage_offset() == a[q].storage_offset()}
    for p, q in ties:
        assert b[p].untyped_storage().data_ptr() == b[q].untyped_storage().data_ptr(), f"{p} and {q} no longer share storage"
    return len(a), len(ties)


def main(args):
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    for original, written in zip(args[::2], args[1::2]):
        storages = structure(written)  # persistent ids checked
        if have_torch:
            n, ties = with_torch(original, written)
            print(f"ok (torch.load): {written}: {n} tensors, {ties} ties kept, {storages} persistent ids")
        else:
            print(f"ok (structure): {written}: {storages} persistent ids")


if __name__ == "__main__":
    main(sys.argv[1:])
