"""PyTorch's legacy (pre-1.6) serialization, written by torch itself with
`torch.save(..., _use_new_zipfile_serialization=False)`, and a whole model
pickled with `torch.save(model)`. Needs torch (Fixtures/.venv). Adds its
records to interchange/manifest.json, replacing earlier ones from this script.
"""
import collections
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_interchange_fixtures import TORCH_DTYPES, torch_entry  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "interchange")
PREFIX = "torch/legacy_"


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(20, 256)
        self.output = torch.nn.Linear(256, 10)

    def forward(self, x):
        return self.output(torch.relu(self.hidden(x)))


def io_save(obj):
    import io
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return buffer


def describe(value, prefix, tensors, metadata):
    """`value` in Sheaf's checkpoint-structure notation (Spec §8.1), collecting
    its tensors (manifest entries) and scalar leaves (typed metadata) by dotted key."""
    join = lambda key: f"{prefix}.{key}" if prefix else str(key)
    scalar_type = {bool: "bool", int: "int", float: "float", str: "string"}
    if isinstance(value, torch.Tensor):
        tensors.append(torch_entry(prefix, value))
        return {"tensor": prefix}
    if value is None:
        return {"none": None}
    if isinstance(value, dict):
        items = [[key if not isinstance(key, bool) else key, describe(v, join("True" if key is True else "False" if key is False else key), tensors, metadata)]
                 for key, v in value.items()]
        return {"dict": items, "ordered": isinstance(value, collections.OrderedDict)}
    if isinstance(value, (list, tuple)):
        kinds = {type(v) for v in value}
        if prefix and value and len(kinds) == 1 and kinds.pop() in scalar_type:
            t = scalar_type[type(value[0])]
            metadata[prefix] = {"type": f"list[{t}]", "value": list(value)}
            return {"metadata": prefix, **({"tuple": True} if isinstance(value, tuple) else {})}
        nodes = [describe(v, join(i), tensors, metadata) for i, v in enumerate(value)]
        return {"tuple": nodes} if isinstance(value, tuple) else {"list": nodes}
    metadata[prefix] = {"type": scalar_type[type(value)], "value": value}
    return {"metadata": prefix}


def main():
    with open(os.path.join(OUT, "manifest.json")) as f:
        manifest = json.load(f)
    mine = ("torch/adam_checkpoint.pt", "hostile/whole_model.pt", "hostile/legacy_pickle.pt", "hostile/torch_float8_e4m3fnuz.pt",
            "hostile/torch_complex32.pt", "hostile/torch_qint8.pt", "hostile/legacy_wrong_count.pt",
            "hostile/legacy_short_storage.pt")
    records = [r for r in manifest["files"] if not r["path"].startswith(PREFIX) and r["path"] not in mine]

    def save(name, obj, kind, tensors, **extra):
        path = os.path.join(OUT, PREFIX + name)
        torch.save(obj, path, _use_new_zipfile_serialization=False)
        assert not open(path, "rb").read(2) == b"PK", "torch wrote a zip"
        records.append({"path": PREFIX + name, "format": "torch", "valid": True, "kind": kind, "tensors": tensors,
                        "metadata": extra.pop("metadata", {}), "written_by": "torch " + torch.__version__, **extra})

    torch.manual_seed(0)
    sd = MLP().state_dict()
    save("mlp.params", sd, "dict", [torch_entry(k, v) for k, v in sd.items()])

    x = torch.arange(4)
    save("tensor.pt", x, "tensor", [torch_entry("0", x)])
    save("list.pt", [x, torch.zeros(3)], "list", [torch_entry("0", x), torch_entry("1", torch.zeros(3))])

    tensors = collections.OrderedDict()
    for i, name in enumerate(TORCH_DTYPES):
        g = torch.Generator().manual_seed(i)
        t = torch.randint(0, 100, (3, 4), generator=g)
        tensors[name] = (t % 2).bool() if name == "bool" else t.to(TORCH_DTYPES[name])
    save("all_dtypes.pt", tensors, "dict", [torch_entry(k, v) for k, v in tensors.items()])

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = collections.OrderedDict(base=base, column=base[:, 1], transposed=base.t(), offset_rows=base[2:])
    save("views.pt", views, "dict", [torch_entry(k, v) for k, v in views.items()], notes_contain=["views of a storage"])

    emb = torch.nn.Embedding(8, 4)
    tied = collections.OrderedDict([("embedding.weight", emb.weight), ("head.weight", emb.weight)])
    save("tied.pt", tied, "dict", [torch_entry("embedding.weight", emb.weight),
                                    torch_entry("head.weight", emb.weight, tied_to="embedding.weight")])

    # A training checkpoint with Adam's state (int keys, tuples, None, bools), in both
    # formats, with its nesting as torch.load returns it, in Sheaf's structure notation.
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))  # small: the manifest holds its bytes
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    checkpoint = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 7, "note": None,
                  "history": [0.5, 0.25], "flags": (True, False), "empty": {}}
    loaded = torch.load(io_save(checkpoint), weights_only=True)
    tensors, metadata = [], {}
    nesting = describe(loaded, "", tensors, metadata)
    for legacy in (False, True):
        name = ("legacy_" if legacy else "") + "adam_checkpoint.pt"
        torch.save(checkpoint, os.path.join(OUT, "torch", name), _use_new_zipfile_serialization=not legacy)
        records.append({"path": "torch/" + name, "format": "torch", "valid": True, "kind": "dict", "tensors": tensors,
                        "metadata": metadata, "nesting": nesting, "written_by": "torch " + torch.__version__})

    # A whole model pickled: refused, and the message says what to save instead.
    torch.save(MLP(), os.path.join(OUT, "hostile/whole_model.pt"))
    records.append({"path": "hostile/whole_model.pt", "format": "torch", "valid": False, "error": "unsupported",
                    "message_contains": "state_dict()", "stage": "open"})

    # dtypes torch writes that Sheaf has no dtype for: refused, naming the dtype.
    for name, tensor in [("float8_e4m3fnuz", torch.zeros(4).to(torch.float8_e4m3fnuz)),
                         ("complex32", torch.zeros(4, dtype=torch.complex32)),
                         ("qint8", torch.quantize_per_tensor(torch.zeros(4), 0.1, 0, torch.qint8))]:
        torch.save({"w": tensor}, os.path.join(OUT, f"hostile/torch_{name}.pt"))
        records.append({"path": f"hostile/torch_{name}.pt", "format": "torch", "valid": False, "error": "unknownDType",
                        "message_contains": "not support", "stage": "open"})

    # A legacy checkpoint cut after its first pickle (the magic number): refused as truncated.
    with open(os.path.join(OUT, PREFIX + "tensor.pt"), "rb") as f:
        whole = f.read()
    with open(os.path.join(OUT, "hostile/legacy_pickle.pt"), "wb") as f:
        f.write(whole[:whole.index(b".") + 1])
    records.append({"path": "hostile/legacy_pickle.pt", "format": "torch", "valid": False, "error": "invalidFile",
                    "message_contains": "legacy", "stage": "open"})
    # torch.arange(4) ends the file: an 8-byte element count, then 32 bytes. A count that
    # disagrees with the pickle, and a storage cut short.
    assert whole[-40:-32] == (4).to_bytes(8, "little")
    with open(os.path.join(OUT, "hostile/legacy_wrong_count.pt"), "wb") as f:
        f.write(whole[:-40] + (5).to_bytes(8, "little") + whole[-32:])
    records.append({"path": "hostile/legacy_wrong_count.pt", "format": "torch", "valid": False, "error": "invalidFile",
                    "message_contains": "holds 5 elements", "stage": "open"})
    with open(os.path.join(OUT, "hostile/legacy_short_storage.pt"), "wb") as f:
        f.write(whole[:-8])
    records.append({"path": "hostile/legacy_short_storage.pt", "format": "torch", "valid": False, "error": "invalidFile",
                    "message_contains": "runs past the end", "stage": "open"})

    manifest["files"] = records
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
