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


for workload in ("large", "many-small", "model-like"):
    path = os.path.join(folder, workload + ".safetensors")
    if not os.path.exists(path):
        continue
    arrays = read_raw(path)
    st = os.path.join(folder, workload + "-peer.safetensors")
    h5 = os.path.join(folder, workload + "-peer.h5")
    npz = os.path.join(folder, workload + "-peer.npz")
    add(workload, "safetensors (numpy) save", timed(lambda: safetensors.numpy.save_file(arrays, st)))
    add(workload, "safetensors (numpy) load", timed(lambda: safetensors.numpy.load_file(st)))

    def h5_save():
        with h5py.File(h5, "w") as f:
            for k, v in arrays.items():
                f.create_dataset(k, data=v)

    def h5_load():
        with h5py.File(h5, "r") as f:
            return {k: f[k][()] for k in f}

    add(workload, "h5py save", timed(h5_save))
    add(workload, "h5py load", timed(h5_load))
    add(workload, "numpy savez save", timed(lambda: np.savez(npz, **arrays)))

    def np_load():
        with np.load(npz) as z:
            return {k: z[k] for k in z.files}

    add(workload, "numpy load (npz)", timed(np_load))
    if torch is not None:
        tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
        pt = os.path.join(folder, workload + "-peer.pt")
        add(workload, "torch.save save", timed(lambda: torch.save(tensors, pt)))
        add(workload, "torch.load load", timed(lambda: torch.load(pt)))
        add(workload, "torch.load(mmap=True) load", timed(lambda: torch.load(pt, mmap=True)), "lazy pages")
        add(workload, "safetensors (torch) load", timed(lambda: safetensors.torch.load_file(st)), "lazy pages")

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
