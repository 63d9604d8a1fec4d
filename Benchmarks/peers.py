"""The peers of sheaf-bench: safetensors, h5py, NumPy and (when installed) PyTorch,
timed on the same data sheaf-bench wrote (FOLDER/<workload>.safetensors).
Prints a JSON list of {workload, name, ms, note}.

Usage: peers.py FOLDER RUNS [--smoke]
"""
import json
import os
import struct
import sys
import time

import h5py
import numpy as np
import safetensors.numpy

try:
    import torch
    import safetensors.torch
except Exception:  # torch is optional
    torch = None

folder, runs = sys.argv[1], int(sys.argv[2])
smoke = "--smoke" in sys.argv
rows = []


def timed(fn):
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return samples[len(samples) // 2]


def durable(path):
    """fsync the saved file, as Sheaf's saves do, so saves compare like for like."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def add(workload, name, ms, note=""):
    rows.append({"workload": workload, "name": name, "ms": ms, "note": note})


def read_raw(path):
    """The tensors as NumPy arrays; bf16/f8 as their bits (NumPy has no such dtypes)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    kinds = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1"}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(data[b:e], dtype=kinds[v["dtype"]]).reshape(v["shape"]).copy()
    return out


for workload in ("large", "many-small", "model-like", "gpt2-124m", "llama-bf16"):
    path = os.path.join(folder, workload + ".safetensors")
    if not os.path.exists(path):
        continue
    arrays = read_raw(path)
    st = os.path.join(folder, workload + "-peer.safetensors")
    h5 = os.path.join(folder, workload + "-peer.h5")
    npz = os.path.join(folder, workload + "-peer.npz")
    add(workload, "safetensors (numpy) save + fsync", timed(lambda: (safetensors.numpy.save_file(arrays, st), durable(st))))
    add(workload, "safetensors (numpy) load", timed(lambda: safetensors.numpy.load_file(st)))

    def h5_save():
        with h5py.File(h5, "w") as f:
            for k, v in arrays.items():
                f.create_dataset(k, data=v)
        durable(h5)

    def h5_load():
        with h5py.File(h5, "r") as f:
            return {k: f[k][()] for k in f}

    add(workload, "h5py save + fsync", timed(h5_save))
    add(workload, "h5py load", timed(h5_load))
    if workload == "large":
        key = sorted(arrays)[len(arrays) // 2]
        n_rows, n_columns = arrays[key].shape

        def st_rows():
            with safetensors.safe_open(st, "numpy") as f:
                return f.get_slice(key)[0:n_rows // 4]

        def st_columns():
            with safetensors.safe_open(st, "numpy") as f:
                return f.get_slice(key)[:, 0:n_columns // 4]

        def h5_slice(index):
            with h5py.File(h5, "r") as f:
                return f[key][index]

        add(workload, "safetensors safe_open + get_slice rows (no checksum)", timed(st_rows))
        add(workload, "safetensors safe_open + get_slice columns (no checksum)", timed(st_columns))
        add(workload, "h5py open + slice rows", timed(lambda: h5_slice(np.s_[0:n_rows // 4])))
        add(workload, "h5py open + slice columns", timed(lambda: h5_slice(np.s_[:, 0:n_columns // 4])))
    if workload in ("large", "many-small", "model-like"):
        add(workload, "numpy savez save + fsync", timed(lambda: (np.savez(npz, **arrays), durable(npz))))

        def np_load():
            with np.load(npz) as z:
                return {k: z[k] for k in z.files}

        add(workload, "numpy load (npz)", timed(np_load))
    if torch is not None:
        tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
        pt = os.path.join(folder, workload + "-peer.pt")
        add(workload, "torch.save save + fsync", timed(lambda: (torch.save(tensors, pt), durable(pt))))
        add(workload, "torch.load load", timed(lambda: torch.load(pt)))
        add(workload, "torch.load(mmap=True) load", timed(lambda: torch.load(pt, mmap=True)), "lazy pages")
        add(workload, "safetensors (torch) load", timed(lambda: safetensors.torch.load_file(st)), "lazy pages")
        if workload in ("gpt2-124m", "llama-bf16"):
            try:
                import transformers
            except Exception:
                transformers = None
            if transformers is not None:
                if workload == "gpt2-124m":
                    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=256) \
                        if smoke else transformers.GPT2Config()
                    make = lambda: transformers.GPT2LMHeadModel(config)
                else:
                    config = transformers.LlamaConfig(
                        hidden_size=64 if smoke else 1024, intermediate_size=176 if smoke else 2816,
                        num_hidden_layers=2 if smoke else 8, num_attention_heads=4 if smoke else 16,
                        num_key_value_heads=2 if smoke else 4, head_dim=16 if smoke else 64,
                        vocab_size=1000 if smoke else 32000, torch_dtype=torch.bfloat16)
                    make = lambda: transformers.LlamaForCausalLM(config).to(torch.bfloat16)
                st_real = os.path.join(folder, workload + ".safetensors")  # real bfloat16, as sheaf-bench wrote it

                def into_modules():
                    with torch.device("meta"):
                        model = make()
                    model.load_state_dict(safetensors.torch.load_file(st_real), strict=False, assign=True)

                add(workload, "transformers load into modules (meta model, load_state_dict of safetensors, assign)", timed(into_modules),
                    "bfloat16 kept" if workload == "llama-bf16" else "")

# Runtime: the same MLP shapes in NumPy (matmul) and PyTorch eager.
cases = [("seed MLP batch 1", [20, 256, 10], 1), ("mlp 64-256-64 batch 16", [64, 256, 64], 16)] if smoke else \
    [("seed MLP batch 1", [20, 256, 10], 1), ("seed MLP batch 64", [20, 256, 10], 64),
     ("seed MLP batch 4096", [20, 256, 10], 4096), ("MLP 1024-4096-1024 batch 256", [1024, 4096, 1024], 256)]
rng = np.random.default_rng(0)
for label, sizes, batch in cases:
    weights = [(rng.standard_normal((sizes[i + 1], sizes[i])).astype(np.float32),
                rng.standard_normal(sizes[i + 1]).astype(np.float32)) for i in range(len(sizes) - 1)]
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    flops = sum(2 * batch * sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))

    def np_forward():
        y = x
        for i, (w, b) in enumerate(weights):
            if i:
                y = np.maximum(y, 0)
            y = y @ w.T + b
        return y

    ms = timed(np_forward) if runs else 0
    add("runtime", "NumPy forward, " + label, ms, "%.1f GFLOP/s" % (flops / ms / 1e6))
    if torch is not None:
        layers = []
        for i in range(len(sizes) - 1):
            if i:
                layers.append(torch.nn.ReLU())
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        net = torch.nn.Sequential(*layers)
        tx = torch.from_numpy(x)
        with torch.no_grad():
            ms = timed(lambda: net(tx))
        add("runtime", "PyTorch eager forward, " + label, ms, "%.1f GFLOP/s" % (flops / ms / 1e6))

# Real architectures in PyTorch eager (transformers' GPT2LMHeadModel, torchvision's
# resnet18), random weights, 2 threads, when those libraries are installed.
if torch is not None:
    try:
        import transformers
        import torchvision
    except Exception:
        transformers = torchvision = None
    if transformers is not None:
        torch.set_num_threads(2)
        torch.manual_seed(0)
        config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=256) if smoke \
            else transformers.GPT2Config()
        model = transformers.GPT2LMHeadModel(config).eval()
        tokens = 16 if smoke else 128
        ids = torch.tensor([[(i * 7919) % config.vocab_size for i in range(tokens)]])
        d = config.n_embd
        params = config.n_layer * 12 * d * d + config.vocab_size * d
        size = "small" if smoke else "124M"
        with torch.no_grad():
            ms = timed(lambda: model(ids, use_cache=False).logits)
            add("models", "PyTorch eager forward, GPT-2 %s %d tokens" % (size, tokens), ms, "%.1f GFLOP/s" % (2 * params * tokens / ms / 1e6))
            steps = 4 if smoke else 32
            per_token = []

            def decode():
                out = model(ids, use_cache=True)
                past = out.past_key_values
                start = time.perf_counter()
                for step in range(steps):
                    out = model(torch.tensor([[step]]), past_key_values=past, use_cache=True)
                    past = out.past_key_values
                per_token.append((time.perf_counter() - start) * 1000 / steps)

            timed(decode)
            per_token.sort()
            ms = per_token[len(per_token) // 2]
            add("models", "PyTorch eager decode per token (KV cache, after %d), GPT-2 %s" % (tokens, size), ms,
                "%.1f GB/s of weights" % (params * 4 / ms / 1e6))
        for batch in ([1] if smoke else [1, 32]):
            side = 64 if smoke else 224
            net = torchvision.models.resnet18(weights=None).eval()
            images = torch.randn(batch, 3, side, side)
            with torch.no_grad():
                ms = timed(lambda: net(images))
            add("models", "PyTorch eager forward, ResNet-18 batch %d %dx%d" % (batch, side, side), ms,
                "%.1f GFLOP/s" % (2 * 1.814e9 * batch * side * side / (224 * 224) / ms / 1e6))

print(json.dumps(rows))
