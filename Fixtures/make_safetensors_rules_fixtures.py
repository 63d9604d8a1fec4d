"""Hostile safetensors files, one per rule of the reference implementation
that Sheaf applies, each checked against the real safetensors library (the
reference) before it is recorded. Needs numpy and safetensors only.

Adds its entries to interchange/manifest.json (replacing earlier ones from
this script), so the hostile-fixture tests run them with the rest.
"""
import json
import os
import struct

from safetensors import safe_open

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "interchange")
FOLDER = "hostile"
PREFIX = "st_rule_"


def write(name, header, data):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = os.path.join(OUT, FOLDER, name)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + data)
    return path


def reference_refuses(path):
    try:
        with safe_open(path, "np") as f:
            for key in f.keys():
                f.get_tensor(key)
        return False
    except Exception:  # the reference's SafetensorError
        return True


F32 = lambda begin, end, shape: {"dtype": "F32", "shape": shape, "data_offsets": [begin, end]}

CASES = [
    # (file, header, data, error code, message fragment, does the reference refuse it?)
    ("trailing_bytes.safetensors", {"a": F32(0, 8, [2])}, b"\0" * 12,
     "invalidFile", "not part of any tensor", True),
    ("gap.safetensors", {"a": F32(0, 4, [1]), "b": F32(8, 12, [1])}, b"\0" * 12,
     "invalidFile", "gap of 4 bytes", True),
    ("gap_at_start.safetensors", {"a": F32(4, 8, [1])}, b"\0" * 8,
     "invalidFile", "gap of 4 bytes", True),
    ("float_shape.safetensors", b'{"a":{"dtype":"F32","shape":[1.9],"data_offsets":[0,4]}}', b"\0" * 4,
     "invalidFile", "non-negative integers", True),
    ("float_offset.safetensors", b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}', b"\0" * 4,
     "invalidFile", "non-negative integers", True),
    ("negative_shape.safetensors", b'{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', b"\0" * 4,
     "invalidFile", "non-negative integers", True),
    ("three_offsets.safetensors", b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}', b"\0" * 4,
     "invalidFile", "data_offsets [begin, end]", True),
    ("metadata_not_string.safetensors", b'{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
     b"\0" * 4, "invalidFile", "not a string", True),
    ("invalid_utf8.safetensors", b'{"\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4,
     "invalidFile", "not valid JSON", True),
    ("nul_padding.safetensors", json.dumps({"a": F32(0, 4, [1])}).encode() + b"\0\0", b"\0" * 4,
     "invalidFile", "not valid JSON", True),
    # The reference keeps the last of a repeated key; Sheaf refuses, so no tensor is silently dropped.
    ("duplicate_key.safetensors",
     b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}',
     b"\0" * 4, "invalidFile", "appears twice", False),
]


def main():
    os.makedirs(os.path.join(OUT, FOLDER), exist_ok=True)
    manifest_path = os.path.join(OUT, "manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    files = [r for r in manifest["files"] if not os.path.basename(r["path"]).startswith(PREFIX)]
    for name, header, data, code, fragment, refused in CASES:
        path = write(PREFIX + name, header, data)
        verdict = reference_refuses(path)
        assert verdict == refused, f"{name}: the reference {'refuses' if verdict else 'accepts'} it"
        files.append({"path": f"{FOLDER}/{PREFIX}{name}", "format": "safetensors", "valid": False, "error": code,
                      "message_contains": fragment, "stage": "open", "reference_refuses": refused})
    manifest["files"] = files
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
