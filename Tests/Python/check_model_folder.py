"""Checks a Hugging Face model folder Sheaf wrote against the folder it came
from, by the rules transformers' sharded loading applies, with safetensors
(no torch): every key of the index in its shard and nothing else in the
shards, every shard's metadata format "pt", shards within the size limit
(unless one tensor alone is larger), total_size right, the same keys, dtypes,
shapes and bytes as the original, and config files byte for byte.

    check_model_folder.py WRITTEN ORIGINAL MAX_SHARD_BYTES

ORIGINAL "-" checks the loading rules only (the source was not a safetensors folder).
"""
import json
import os
import sys

from safetensors import safe_open


def load(folder):
    index_path = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        weight_map = index["weight_map"]
    else:
        index, weight_map = None, None
    shards = sorted({*weight_map.values()}) if weight_map else ["model.safetensors"]
    tensors, by_shard, formats = {}, {}, set()
    for shard in shards:
        with safe_open(os.path.join(folder, shard), "np") as f:
            formats.add((f.metadata() or {}).get("format"))
            by_shard[shard] = list(f.keys())
            for key in f.keys():
                assert key not in tensors, f"{key} in two shards"
                view = f.get_slice(key)
                tensors[key] = (view.get_dtype(), tuple(view.get_shape()))
    return index, weight_map, by_shard, tensors, formats


def raw_bytes(folder, shard, key):
    with open(os.path.join(folder, shard), "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        begin, end = header[key]["data_offsets"]
        f.seek(8 + n + begin)
        return f.read(end - begin)


def main(written, original, max_bytes):
    max_bytes = int(max_bytes)
    index, weight_map, by_shard, tensors, formats = load(written)
    assert formats == {"pt"}, f"shard formats {formats}"
    if index is not None:
        for shard, keys in by_shard.items():
            assert set(keys) == {k for k, s in weight_map.items() if s == shard}, f"{shard} does not hold what the index says"
            size = sum(len(raw_bytes(written, shard, k)) for k in keys)
            assert size <= max_bytes or len(keys) == 1, f"{shard} is {size} bytes, over {max_bytes}"
        total = sum(len(raw_bytes(written, s, k)) for s, keys in by_shard.items() for k in keys)
        assert index["metadata"]["total_size"] == total, "total_size"
    if original == "-":
        print(f"ok: {len(tensors)} tensors in {len(by_shard)} shards (loading rules only)")
        return
    _, _, original_shards, original_tensors, _ = load(original)
    assert set(tensors) == set(original_tensors), "keys differ"
    where = {k: s for s, keys in by_shard.items() for k in keys}
    original_where = {k: s for s, keys in original_shards.items() for k in keys}
    for key, described in tensors.items():
        assert described == original_tensors[key], f"{key}: {described} vs {original_tensors[key]}"
        assert raw_bytes(written, where[key], key) == raw_bytes(original, original_where[key], key), f"{key}: bytes differ"
    for name in ("config.json", "generation_config.json"):
        a, b = os.path.join(written, name), os.path.join(original, name)
        if os.path.exists(b):
            assert open(a, "rb").read() == open(b, "rb").read(), f"{name} differs"
    print(f"ok: {len(tensors)} tensors in {len(by_shard)} shards")


if __name__ == "__main__":
    main(*sys.argv[1:])
