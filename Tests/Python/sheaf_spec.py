"""The rules of Spec/FORMAT.md that Python code needs, in one place: link names
(section 4), logical bytes (section 9), the canonical metadata encoding (section
10) and checksums (section 9). Used by the fixture generator and the checks."""
import struct
import zlib

import numpy as np
import xxhash


def link_name(key):
    return "%2E" if key == "." else key.replace("%", "%25").replace("/", "%2F")


def logical_bytes(array):
    """Elements in C order, little-endian; bool as one byte 0/1."""
    a = np.array(array, order="C", copy=True)
    if a.dtype.kind == "b":
        return a.astype(np.uint8).tobytes()
    return a.astype(a.dtype.newbyteorder("<")).tobytes()


def metadata_bytes(metadata):
    """The canonical metadata encoding of section 10."""
    def string(s):
        b = s.encode()
        return struct.pack("<I", len(b)) + b

    def scalar(v):
        if isinstance(v, bool):
            return b"\x01" if v else b"\x00"
        if isinstance(v, int):
            return struct.pack("<q", v)
        if isinstance(v, float):
            return struct.pack("<d", v)
        return string(v)

    def tag(v):
        return 4 if isinstance(v, bool) else 2 if isinstance(v, int) else 3 if isinstance(v, float) else 1

    out = b""
    for name in sorted(metadata, key=lambda n: n.encode()):
        v = metadata[name]
        out += string(name)
        if isinstance(v, list):
            out += bytes([16 + (tag(v[0]) if v else 1)]) + struct.pack("<I", len(v)) + b"".join(scalar(x) for x in v)
        else:
            out += bytes([tag(v)]) + scalar(v)
    return out


def checksum(algorithm, raw):
    if algorithm == "xxh3-64":
        return "%016x" % xxhash.xxh3_64_intdigest(raw)
    return "%08x" % (zlib.crc32(raw) & 0xFFFFFFFF)


def packed_references(f):
    """Key -> region reference of every packed tensor (section 18), from /_sheaf_packed."""
    if "_sheaf_packed" not in f:
        return {}
    packed = f["_sheaf_packed"]
    return dict(zip(packed["keys"].asstr()[()], packed["refs"][()]))


def read_entry(f, entry, where):
    """The tensor of one index entry as h5py reads it: its dataset in /tensors,
    or, when packed, its elements of its arena through its region reference."""
    if entry["storage"] == "packed":
        ref = where[entry["key"]]
        return f[ref][ref].reshape(entry["shape"])
    return f["tensors"][link_name(entry["key"])][()]
