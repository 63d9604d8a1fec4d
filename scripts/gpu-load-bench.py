"""Makes the models the GPU load benchmark uses and times the peers' loads onto cuda:0.

Runs on a GPU machine with PyTorch, transformers and safetensors (no Swift):

    python3 scripts/gpu-load-bench.py make DIR     # gpt2.safetensors (float32), llama.safetensors (bfloat16), gpt2.pt
    python3 scripts/gpu-load-bench.py time DIR     # peers' medians: safetensors load_file(device="cuda:0"), torch.load(mmap, map_location)
    python3 scripts/gpu-load-bench.py cold DIR     # each peer once after the page cache is dropped (root)

Weights are random (transformers' own initialisation); only their sizes and dtypes matter here.
"""
import os
import statistics
import sys
import time

import torch


def make(folder):
    from safetensors.torch import save_file
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    with torch.device("cuda:0"):
        gpt2 = GPT2LMHeadModel(GPT2Config())
    state = {k: v.detach().cpu().contiguous() for k, v in gpt2.state_dict().items() if k != "lm_head.weight"}
    save_file(state, f"{folder}/gpt2.safetensors")
    torch.save(state, f"{folder}/gpt2.pt")
    # TinyLlama-1.1B's shapes, in bfloat16 as such checkpoints ship.
    config = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                         num_key_value_heads=4, vocab_size=32000)
    with torch.device("cuda:0"):
        llama = LlamaForCausalLM(config).to(torch.bfloat16)
    state = {k: v.detach().cpu().contiguous() for k, v in llama.state_dict().items()}
    save_file(state, f"{folder}/llama.safetensors")
    torch.save(state, f"{folder}/llama.pt")
    for name, s in (("gpt2", gpt2.state_dict()), ("llama", state)):
        print(f"made {name}: {len(s)} tensors, {sum(v.numel() * v.element_size() for v in s.values()) / 1e9:.3f} GB")


def median_ms(body, runs=5):
    body()
    torch.cuda.synchronize()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        body()
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def time_peers(folder):
    from safetensors.torch import load_file

    for name in ("gpt2", "llama"):
        path = f"{folder}/{name}.safetensors"
        size = sum(v.numel() * v.element_size() for v in load_file(path).values())
        rows = [
            ("safetensors load_file(device='cuda:0')", lambda: load_file(path, device="cuda:0")),
            ("safetensors load_file() then .to('cuda:0') each", lambda: {k: v.to("cuda:0") for k, v in load_file(path).items()}),
            ("safetensors load_file() then .float().to('cuda:0') each (float32 on the GPU, as Sheaf gives)",
             lambda: {k: v.to("cuda:0").float() for k, v in load_file(path).items()}),
            ("torch.load(mmap=True, map_location='cuda:0')",
             lambda: torch.load(f"{folder}/{name}.pt", mmap=True, map_location="cuda:0", weights_only=True)),
        ]
        for label, body in rows:
            ms = median_ms(body)
            print(f"peer {name} {label}: {ms:.2f} ms, {size / ms / 1e6:.2f} GB/s")


def drop_page_cache():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def cold_peers(folder):
    from safetensors.torch import load_file

    torch.zeros(1, device="cuda:0")
    torch.cuda.synchronize()
    for name in ("gpt2", "llama"):
        path = f"{folder}/{name}.safetensors"
        size = os.path.getsize(path)
        rows = [
            ("safetensors load_file(device='cuda:0')", lambda: load_file(path, device="cuda:0")),
            ("safetensors load_file() then .to('cuda:0') each", lambda: {k: v.to("cuda:0") for k, v in load_file(path).items()}),
            ("torch.load(mmap=True, map_location='cuda:0')",
             lambda: torch.load(f"{folder}/{name}.pt", mmap=True, map_location="cuda:0", weights_only=True)),
        ]
        for label, body in rows:
            drop_page_cache()
            start = time.perf_counter()
            result = body()
            torch.cuda.synchronize()
            ms = (time.perf_counter() - start) * 1e3
            del result
            print(f"peer {name} cold {label}: {ms:.2f} ms, {size / ms / 1e6:.2f} GB/s")


if __name__ == "__main__":
    {"make": make, "time": time_peers, "cold": cold_peers}[sys.argv[1]](sys.argv[2])
