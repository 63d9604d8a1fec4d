"""Writes the security fixtures with plain h5py (no torch): HDF5 and Sheaf files
that try to make a reader read other files (external raw storage, virtual
datasets, external and soft links), exhaust memory (deflate bombs, millions of
chunks, huge never-written dataspaces, an index of repeated keys), hang (group
lattices, external storage on a FIFO) or pass malformed types (floats with
impossible fields), as an attacker would write them.

`security/manifest.json` lists each file with the error every entry point must
raise (`error`, a SheafError code) and a fragment of its message. Files that
point outside name SECRET (an absolute path the tests fill with a marker
before running) or a relative path to it, so a test can prove that no byte of
the outside file reaches any output or message.

Needs only numpy, h5py and xxhash (the test virtual environment); run through
Fixtures/make_fixtures.sh or `.venv/bin/python Fixtures/make_security_fixtures.py`.
"""
import json
import os
import shutil
import struct
import sys
import zipfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Python"))
from sheaf_spec import checksum, link_name, logical_bytes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "security")
SECRET = "/tmp/sheaf-security-secret.txt"
SECRET_FIFO = "/tmp/sheaf-security-fifo"
SECRET_BYTES = 64
PICKLE_MARKER = "/tmp/sheaf-security-pickle-ran"
MANIFEST = []


def p(name):
    return os.path.join(OUT, name)


def record(name, fmt, error, contains, probe):
    MANIFEST.append({"path": name, "format": fmt, "error": error, "message_contains": contains, "probe": probe})


def sheaf_file(name):
    """An h5py file with the Sheaf root attributes (Spec/FORMAT.md section 3)."""
    f = h5py.File(p(name), "w", alignment_threshold=1, alignment_interval=64, libver="earliest")
    for attr, value in (("sheaf_format", "sheaf"), ("sheaf_version", "1.0"), ("sheaf_kind", "dict"),
                        ("sheaf_checksum", "xxh3-64")):
        f.attrs.create(attr, value, dtype=h5py.string_dtype("utf-8"))
    return f


def index_entry(key, dtype, shape, raw, storage="contiguous", offset=None, checksum_text=None):
    return {"key": key, "dtype": dtype, "shape": list(shape), "nbytes": len(raw), "storage": storage,
            "offset": offset, "checksum": checksum_text or checksum("xxh3-64", raw), "tied_to": None,
            "metadata": False}


def write_index(f, entries, compress=False):
    raw = json.dumps({"tensors": entries}, sort_keys=True, separators=(",", ":")).encode()
    kwargs = dict(chunks=(1 << 16,), compression="gzip", compression_opts=9) if compress else {}
    f.create_dataset("_sheaf_index", data=np.frombuffer(raw, dtype=np.uint8), track_times=False, **kwargs)


def add_tensor(f, key, array, **kwargs):
    ds = f["tensors"].create_dataset(link_name(key), data=array, track_times=False, **kwargs)
    ds.attrs.create("sheaf_dtype", str(array.dtype), dtype=h5py.string_dtype("utf-8"))
    return ds


def outside_files():
    # External raw storage: the dataset's bytes live in another file.
    for name, target in (("h5_external_absolute.h5", SECRET), ("h5_external_relative.h5", "../../../../../../.." + SECRET),
                         ("h5_external_environ.h5", "/proc/self/environ"), ("h5_external_fifo.h5", SECRET_FIFO)):
        with h5py.File(p(name), "w") as f:
            f.create_dataset("stolen", shape=(SECRET_BYTES,), dtype="u1", external=[(target, 0, SECRET_BYTES)])
        record(name, "hdf5", "unsupported", "external storage", "external raw storage (%s)" % target)

    # The same inside Sheaf files, index consistent with a reader that follows the link.
    # The checksum cannot be known in advance, so one file records zeros (the leak the
    # checksum message used to give) and one a plausible value.
    for name, text in (("sheaf_external_storage.sheaf", "0123456789abcdef"),
                       ("sheaf_external_storage_zero_checksum.sheaf", "0000000000000000")):
        f = sheaf_file(name)
        f.create_group("tensors")
        ds = f["tensors"].create_dataset("w", shape=(SECRET_BYTES,), dtype="u1", external=[(SECRET, 0, SECRET_BYTES)])
        ds.attrs.create("sheaf_dtype", "uint8", dtype=h5py.string_dtype("utf-8"))
        write_index(f, [index_entry("w", "uint8", (SECRET_BYTES,), b"\0" * SECRET_BYTES, checksum_text=text)])
        f.close()
        record(name, "sheaf", "unsupported", "external storage", "Sheaf tensor with external raw storage")

    # Virtual datasets: onto another file, and onto the file itself.
    with h5py.File(p("vds_source.h5"), "w") as f:
        f.create_dataset("data", data=np.arange(16, dtype="<i4"))
    layout = h5py.VirtualLayout(shape=(16,), dtype="<i4")
    layout[:] = h5py.VirtualSource("vds_source.h5", "data", shape=(16,))
    with h5py.File(p("h5_virtual_other_file.h5"), "w") as f:
        f.create_virtual_dataset("stolen", layout)
    record("h5_virtual_other_file.h5", "hdf5", "unsupported", "virtual", "virtual dataset onto another file")

    layout = h5py.VirtualLayout(shape=(16,), dtype="<i4")
    layout[:] = h5py.VirtualSource(".", "loop", shape=(16,))
    with h5py.File(p("h5_virtual_self.h5"), "w") as f:
        f.create_virtual_dataset("loop", layout)
    record("h5_virtual_self.h5", "hdf5", "unsupported", "virtual", "virtual dataset onto itself")

    layout = h5py.VirtualLayout(shape=(16,), dtype="<i4")
    layout[:] = h5py.VirtualSource(".", "tensors/w", shape=(16,))
    f = sheaf_file("sheaf_virtual_self.sheaf")
    f.create_group("tensors")
    ds = f["tensors"].create_virtual_dataset("w", layout)
    ds.attrs.create("sheaf_dtype", "int32", dtype=h5py.string_dtype("utf-8"))
    write_index(f, [index_entry("w", "int32", (16,), b"\0" * 64)])
    f.close()
    record("sheaf_virtual_self.sheaf", "sheaf", "unsupported", "virtual", "Sheaf tensor as a virtual dataset onto itself")

    # Links: external, and soft links leaving /tensors.
    f = sheaf_file("sheaf_external_link.sheaf")
    f.create_group("tensors")
    f["tensors/w"] = h5py.ExternalLink("vds_source.h5", "/data")
    write_index(f, [index_entry("w", "int32", (16,), np.arange(16, dtype="<i4").tobytes())])
    f.close()
    record("sheaf_external_link.sheaf", "sheaf", "unsupported", "external link", "external link in /tensors")

    f = sheaf_file("sheaf_soft_link.sheaf")
    f.create_group("tensors")
    data = np.arange(4, dtype="<i4")
    f.create_dataset("elsewhere", data=data, track_times=False)
    f["tensors/w"] = h5py.SoftLink("/elsewhere")
    write_index(f, [index_entry("w", "int32", (4,), data.tobytes())])
    f.close()
    record("sheaf_soft_link.sheaf", "sheaf", "unsupported", "soft link", "soft link in /tensors")

    with h5py.File(p("h5_external_link.h5"), "w") as f:
        f.create_dataset("mine", data=np.arange(4, dtype="<i4"))
        f["theirs"] = h5py.ExternalLink("vds_source.h5", "/data")
    record("h5_external_link.h5", "hdf5", "unsupported", "external link", "external link in a plain HDF5 file")

    with h5py.File(p("h5_soft_link.h5"), "w") as f:
        f.create_dataset("mine", data=np.arange(4, dtype="<i4"))
        f["alias"] = h5py.SoftLink("/mine")
    record("h5_soft_link.h5", "hdf5", "unsupported", "soft link", "soft link in a plain HDF5 file")


def resource_files():
    # A deflate bomb: 256 MiB of zeros in 1 MiB chunks, a few hundred KiB on disk.
    zeros = np.zeros(256 << 20, dtype="u1")
    with h5py.File(p("h5_deflate_bomb.h5"), "w") as f:
        f.create_dataset("bomb", data=zeros, chunks=(1 << 20,), compression="gzip", compression_opts=9)
    record("h5_deflate_bomb.h5", "hdf5", "limitExceeded", "expand", "deflate chunks expanding 1000-fold")

    f = sheaf_file("sheaf_deflate_bomb.sheaf")
    f.create_group("tensors")
    add_tensor(f, "w", zeros, chunks=(1 << 20,), shuffle=True, compression="gzip", compression_opts=9)
    write_index(f, [index_entry("w", "uint8", zeros.shape, logical_bytes(zeros), storage="deflate")])
    f.close()
    record("sheaf_deflate_bomb.sheaf", "sheaf", "limitExceeded", "expand", "Sheaf deflate bomb with a consistent checksum")
    del zeros

    # A million chunks of one element (never written, so the file stays small).
    with h5py.File(p("h5_million_chunks.h5"), "w") as f:
        f.create_dataset("many", shape=(1 << 20,), dtype="u1", chunks=(1,))
    record("h5_million_chunks.h5", "hdf5", "limitExceeded", "chunks", "1,048,576 chunks of one element")

    # Never-written dataspaces of 2^60 elements: chunked and contiguous.
    with h5py.File(p("h5_huge_unwritten_chunked.h5"), "w") as f:
        f.create_dataset("huge", shape=(1 << 60,), dtype="u1", chunks=(1 << 20,))
    record("h5_huge_unwritten_chunked.h5", "hdf5", "limitExceeded", "chunks", "2^60 elements in never-written chunks")
    with h5py.File(p("h5_huge_unwritten.h5"), "w") as f:
        f.create_dataset("huge", shape=(1 << 40,), dtype="u1")
    record("h5_huge_unwritten.h5", "hdf5", "limitExceeded", "stored", "2^40 elements, never written (fill value only)")

    f = sheaf_file("sheaf_huge_unwritten.sheaf")
    f.create_group("tensors")
    ds = f["tensors"].create_dataset("w", shape=(1 << 40,), dtype="u1", chunks=(1 << 20,))
    ds.attrs.create("sheaf_dtype", "uint8", dtype=h5py.string_dtype("utf-8"))
    write_index(f, [index_entry("w", "uint8", (0,), b"", storage="deflate") | {"shape": [1 << 40], "nbytes": 1 << 40}])
    f.close()
    record("sheaf_huge_unwritten.sheaf", "sheaf", "limitExceeded", "chunks", "Sheaf tensor of 2^40 never-written elements")

    # An index repeating one key 300,000 times (30 MiB of JSON, deflated to a few KiB).
    f = sheaf_file("sheaf_index_repeated_key.sheaf")
    f.create_group("tensors")
    data = np.arange(2, dtype="<i4")
    ds = add_tensor(f, "k", data)
    entry = index_entry("k", "int32", (2,), data.tobytes(), offset=ds.id.get_offset())
    write_index(f, [entry] * 300_000, compress=True)
    f.close()
    record("sheaf_index_repeated_key.sheaf", "sheaf", "invalidIndex", "duplicate key", "index repeating one key 300,000 times")

    # Groups forming a diamond lattice: 2^40 paths to the same few objects.
    with h5py.File(p("h5_group_lattice.h5"), "w") as f:
        groups = [f.create_group("g%d" % i) for i in range(41)]
        groups[-1].create_dataset("leaf", data=np.arange(3, dtype="<i4"))
        for upper, lower in zip(groups, groups[1:]):
            upper["a"] = lower
            upper["b"] = lower
    record("h5_group_lattice.h5", "hdf5", "invalidFile", "reached again", "groups in a diamond lattice (2^40 paths)")

    # More attributes on one object than a reader accepts.
    f = sheaf_file("sheaf_many_attributes.sheaf")
    f.create_group("tensors")
    data = np.arange(2, dtype="<i4")
    ds = add_tensor(f, "k", data)
    for i in range(5000):
        f.attrs.create("a%d" % i, i, dtype="<i8")
    write_index(f, [index_entry("k", "int32", (2,), data.tobytes(), offset=ds.id.get_offset())])
    f.close()
    record("sheaf_many_attributes.sheaf", "sheaf", "limitExceeded", "attributes", "5,000 attributes on the root group")

    # Two HDF5 paths that become the same dotted key.
    with h5py.File(p("h5_dotted_collision.h5"), "w") as f:
        f.create_dataset("a.b/c", data=np.arange(2, dtype="<i4"))
        f.create_dataset("a/b.c", data=np.arange(3, dtype="<i4"))
    record("h5_dotted_collision.h5", "hdf5", "invalidFile", "/a.b/c", "two paths mapping to the key a.b.c")


IEEE_F64LE_MESSAGE = bytes.fromhex("11203f00" "08000000" "0000" "4000" "340b" "0034" "ff030000")


def malformed_type_files():
    # Metadata attributes of float types no IEEE reader can decode. libhdf5
    # refuses to create such types, so a float64 attribute is written and its
    # datatype message patched, as an attacker would.
    for name, patch in (("sheaf_float_attr_zero_precision.sheaf", {10: b"\0\0"}),
                        ("sheaf_float_attr_wide_mantissa.sheaf", {15: bytes([120])})):
        f = sheaf_file(name)
        f.create_group("tensors")
        data = np.arange(2, dtype="<i4")
        ds = add_tensor(f, "k", data)
        f.attrs.create("lr", 0.001, dtype="<f8")
        write_index(f, [index_entry("k", "int32", (2,), data.tobytes(), offset=ds.id.get_offset())])
        f.close()
        raw = bytearray(open(p(name), "rb").read())
        at = raw.find(IEEE_F64LE_MESSAGE)
        assert at >= 0 and raw.find(IEEE_F64LE_MESSAGE, at + 1) < 0, name
        for offset, value in patch.items():
            raw[at + offset:at + offset + len(value)] = value
        open(p(name), "wb").write(bytes(raw))
        record(name, "sheaf", "invalidMetadata", "float", "float attribute whose type is not IEEE binary16/32/64")


def pickle_files():
    # A PyTorch zip whose pickle calls an allowed global (a storage type) that
    # the unpickler may name but must never call: the second refusal of REDUCE.
    pickle = b"\x80\x02ctorch\nFloatStorage\n)R."
    with zipfile.ZipFile(p("pickle_reduce_storage_type.pt"), "w") as z:
        z.writestr("archive/data.pkl", pickle)
        z.writestr("archive/version", "3\n")
    record("pickle_reduce_storage_type.pt", "torch", "unsupported", "pickle calls 'torch.FloatStorage'",
           "a pickle calling a storage type it may only name")

    # A pickle that would create MARKER through os.system if anything ran it.
    command = ("touch " + PICKLE_MARKER).encode()
    pickle = b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(command)) + command + b"\x85R."
    with zipfile.ZipFile(p("pickle_os_system_marker.pt"), "w") as z:
        z.writestr("archive/data.pkl", pickle)
        z.writestr("archive/version", "3\n")
    record("pickle_os_system_marker.pt", "torch", "unsupported", "os.system",
           "a pickle calling os.system('touch %s')" % PICKLE_MARKER)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    outside_files()
    resource_files()
    malformed_type_files()
    pickle_files()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"generator": "Fixtures/make_security_fixtures.py", "h5py": h5py.version.version,
                   "hdf5": h5py.version.hdf5_version, "secret": SECRET, "secret_fifo": SECRET_FIFO,
                   "secret_bytes": SECRET_BYTES, "pickle_marker": PICKLE_MARKER, "files": MANIFEST}, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %d security fixtures" % len(MANIFEST))


if __name__ == "__main__":
    sys.exit(main())
