"""Hugging Face model folders, as `save_pretrained` lays them out, written with
the real tools but without torch: safetensors (numpy + ml_dtypes for bfloat16)
for the weights, huggingface_hub's own splitter for the sharding plan, and, for
the `pytorch_model.bin` layout, shards that torch.save wrote (committed
fixtures, copied). Plus hostile indexes. Adds its records to
interchange/manifest.json, replacing earlier ones from this script.
"""
import json
import os
import shutil

import ml_dtypes
import numpy as np
from huggingface_hub.serialization import split_state_dict_into_shards_factory
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "interchange")
FOLDER = "folders"
HOSTILE = "hostile/folders"

CONFIG = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 8, "n_head": 2, "n_layer": 2,
          "n_positions": 16, "vocab_size": 12, "torch_dtype": "bfloat16", "transformers_version": "4.57.0"}
GENERATION = {"bos_token_id": 0, "eos_token_id": 0, "transformers_version": "4.57.0"}


def entry(key, array, dtype):
    raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    return {"key": key, "dtype": dtype, "shape": list(array.shape), "hex": raw.hex(), "tied_to": None}


def string(value):
    return {"type": "string", "value": value}


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def model_state_dict():
    rng = np.random.default_rng(7)
    bf16 = lambda *shape: rng.standard_normal(shape).astype(np.float32).astype(ml_dtypes.bfloat16)
    sd = {"transformer.wte.weight": bf16(12, 8), "transformer.wpe.weight": bf16(16, 8)}
    for i in range(2):
        p = f"transformer.h.{i}."
        sd[p + "ln_1.weight"] = bf16(8)
        sd[p + "ln_1.bias"] = bf16(8)
        sd[p + "attn.c_attn.weight"] = bf16(8, 24)
        sd[p + "attn.c_attn.bias"] = bf16(24)
        sd[p + "mlp.c_fc.weight"] = bf16(8, 32)
    sd["transformer.ln_f.weight"] = bf16(8)
    sd["transformer.h.0.attn.bias_mask"] = np.tril(np.ones((4, 4), dtype=bool))
    return sd


def sharded_safetensors(folder, sd, max_shard_size):
    os.makedirs(folder, exist_ok=True)
    split = split_state_dict_into_shards_factory(sd, get_storage_size=lambda a: a.nbytes,
                                                 filename_pattern="model{suffix}.safetensors",
                                                 max_shard_size=max_shard_size)
    for filename, keys in split.filename_to_tensors.items():
        save_file({k: sd[k] for k in keys}, os.path.join(folder, filename), metadata={"format": "pt"})
    if split.is_sharded:
        # transformers' save_pretrained: {"metadata": {"total_size": …}, "weight_map": …}, sorted keys.
        index = {"metadata": {"total_size": sum(a.nbytes for a in sd.values())}, "weight_map": split.tensor_to_filename}
        write_json(os.path.join(folder, "model.safetensors.index.json"), index)
    return split


def main():
    with open(os.path.join(OUT, "manifest.json")) as f:
        manifest = json.load(f)
    records = [r for r in manifest["files"]
               if not (r["path"].startswith(FOLDER + "/") or r["path"].startswith(HOSTILE + "/"))]
    for d in (FOLDER, HOSTILE):
        shutil.rmtree(os.path.join(OUT, d), ignore_errors=True)
        os.makedirs(os.path.join(OUT, d))
    existing = {r["path"]: r for r in manifest["files"]}
    sd = model_state_dict()
    dtype_name = lambda a: "bool" if a.dtype == bool else "bfloat16"
    metadata = {"hf_config": string(json.dumps(CONFIG, indent=2, sort_keys=True) + "\n"),
                "hf_generation_config": string(json.dumps(GENERATION, indent=2, sort_keys=True) + "\n"),
                "format": string("pt")}

    # A sharded safetensors folder (bfloat16), read as the folder and as its index.
    folder = os.path.join(OUT, FOLDER, "hf_sharded")
    split = sharded_safetensors(folder, sd, max_shard_size=700)
    assert split.is_sharded and len(split.filename_to_tensors) >= 3, split.filename_to_tensors.keys()
    write_json(os.path.join(folder, "config.json"), CONFIG)
    write_json(os.path.join(folder, "generation_config.json"), GENERATION)
    order = list(json.load(open(os.path.join(folder, "model.safetensors.index.json")))["weight_map"])
    tensors = [entry(k, sd[k], dtype_name(sd[k])) for k in order]
    for path in (f"{FOLDER}/hf_sharded", f"{FOLDER}/hf_sharded/model.safetensors.index.json"):
        records.append({"path": path, "format": "safetensors", "valid": True, "kind": "dict", "tensors": tensors,
                        "metadata": metadata, "shards": len(split.filename_to_tensors)})

    # A single model.safetensors with its config.
    folder = os.path.join(OUT, FOLDER, "hf_single")
    sharded_safetensors(folder, sd, max_shard_size=10 ** 9)
    write_json(os.path.join(folder, "config.json"), CONFIG)
    single = {k: v for k, v in metadata.items() if k != "hf_generation_config"}
    # A single file's tensors come in data order, which safetensors chooses: read it from the header.
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    keys = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"])
    records.append({"path": f"{FOLDER}/hf_single", "format": "safetensors", "valid": True, "kind": "dict",
                    "tensors": [entry(k, sd[k], dtype_name(sd[k])) for k in keys], "metadata": single})

    # The pytorch_model.bin layout: shards torch.save wrote (committed fixtures), and the index.
    folder = os.path.join(OUT, FOLDER, "hf_torch_sharded")
    os.makedirs(folder)
    shards = {"pytorch_model-00001-of-00002.bin": "torch/mlp.params", "pytorch_model-00002-of-00002.bin": "torch/mydict"}
    weight_map, tensors, total = {}, [], 0
    for name, source in shards.items():
        shutil.copyfile(os.path.join(OUT, source), os.path.join(folder, name))
        for t in existing[source]["tensors"]:
            weight_map[t["key"]] = name
            tensors.append(t)
            total += len(bytes.fromhex(t["hex"]))
    write_json(os.path.join(folder, "pytorch_model.bin.index.json"), {"metadata": {"total_size": total}, "weight_map": weight_map})
    write_json(os.path.join(folder, "config.json"), CONFIG)
    tensors.sort(key=lambda t: t["key"])  # the index's order (written with sorted keys)
    records.append({"path": f"{FOLDER}/hf_torch_sharded", "format": "torch", "valid": True, "kind": "dict",
                    "tensors": tensors, "metadata": {"hf_config": metadata["hf_config"]}})

    # Hostile indexes: each refused, naming what is wrong.
    def hostile(name, weight_map, error, contains, extra=None):
        folder = os.path.join(OUT, HOSTILE, name)
        os.makedirs(folder)
        save_file({"a": np.zeros(2, np.float32), "b": np.ones(2, np.float32)}, os.path.join(folder, "model-00001-of-00001.safetensors"))
        for path, content in (extra or {}).items():
            with open(os.path.join(folder, path), "w") as f:
                f.write(content)
        write_json(os.path.join(folder, "model.safetensors.index.json"), {"metadata": {}, "weight_map": weight_map})
        records.append({"path": f"{HOSTILE}/{name}", "format": "safetensors", "valid": False, "error": error,
                        "message_contains": contains, "stage": "open"})
    shard = "model-00001-of-00001.safetensors"
    hostile("outside_folder", {"a": shard, "b": "../../safetensors/all_dtypes.safetensors"}, "unsupported", "outside the folder")
    hostile("absolute_path", {"a": shard, "b": "/etc/passwd"}, "unsupported", "outside the folder")
    hostile("missing_shard", {"a": shard, "b": "model-00002-of-00002.safetensors"}, "invalidFile", "model-00002-of-00002.safetensors")
    hostile("key_not_in_shard", {"a": shard, "b": shard, "c": shard}, "keyNotFound", "not in its shard")
    hostile("tensor_not_in_index", {"a": shard}, "invalidFile", "not listed in the index")
    hostile("not_a_map", ["a", "b"], "invalidFile", "weight_map")
    hostile("bad_config", {"a": shard, "b": shard}, "invalidFile", "config.json", extra={"config.json": "{not json"})

    manifest["files"] = records
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
