"""Reference outputs for the runtime's architectures, written by the reference
libraries themselves (transformers, torchvision, torch on the CPU), from small
configs with random weights (no download). Tests compare Sheaf's runtime with
these files and never need torch.

- models/gpt2: a GPT2LMHeadModel folder (save_pretrained: config.json,
  generation_config.json, model.safetensors without the tied lm_head) and the
  same weights as torch.save(state_dict) (lm_head.weight included, tied).
- models/llama: a LlamaForCausalLM folder saved in bfloat16 (grouped-query
  attention, Llama 3 rope scaling, untied head).
- logits of a prompt (float32 compute; for Llama also bfloat16 compute) and
  greedy generate(do_sample=False) of 20 new tokens, in reference.json/.npy.
- models/resnet: torchvision resnet18 and resnet50 (full size) with weights from
  a counter-based generator that Sheaf's tests reproduce (the 11.7M and 25.6M
  parameters are not committed): each state-dict entry's key, shape, dtype and
  value range in resnet.json; the input images and torchvision's logits as .npy.
"""
import json
import os

import numpy as np
import torch
import torchvision
import transformers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "models")
torch.set_num_threads(2)

PROMPT = [[5, 17, 42, 7, 99, 3, 64, 11], [1, 2, 3, 4, 5, 6, 7, 8]]


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def greedy(model, prompt, new_tokens=20):
    """generate(do_sample=False) of exactly `new_tokens` (the end-of-text stop
    is turned off, so every step is the plain argmax; Sheaf's runtime compares
    with `stopTokens: []`)."""
    ids = torch.tensor([prompt])
    config = model.generation_config
    config.eos_token_id = None
    config.pad_token_id = 0
    out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=new_tokens,
                         generation_config=config)
    return out[0, len(prompt):].tolist()


def causal_lm(name, model, dtype=None):
    """Saves `model` (in `dtype` when given) and writes the reference outputs of
    the folder as transformers loads it: from_pretrained in float32 (and, for a
    bfloat16 model, in bfloat16 too). Loading matters: an in-memory model cast
    to bfloat16 also rounds its rotary frequencies, a loaded one does not."""
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    model.eval()
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(folder, safe_serialization=True)
    cls = type(model)
    reference = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
                 "prompt": PROMPT}
    with torch.no_grad():
        f32 = cls.from_pretrained(folder, dtype=torch.float32).eval()
        logits = f32(torch.tensor(PROMPT)).logits.numpy().astype(np.float32)
        np.save(os.path.join(folder, "reference_logits.npy"), logits)
        reference["generated"] = [greedy(f32, p) for p in PROMPT]
        if dtype is not None:
            low = cls.from_pretrained(folder, dtype=dtype).eval()
            np.save(os.path.join(folder, "reference_logits_bf16_compute.npy"),
                    low(torch.tensor(PROMPT)).logits.float().numpy())
    write_json(os.path.join(folder, "reference.json"), reference)
    return f32


def gpt2():
    torch.manual_seed(1)
    # initializer_range 0.2 (not 0.02): activations of order 1, where GELU's
    # tanh form and erf form differ enough for the tests to tell them apart.
    config = GPT2Config(vocab_size=128, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                        bos_token_id=0, eos_token_id=0, initializer_range=0.2)
    model = GPT2LMHeadModel(config)
    randomize_norms(model)
    model = causal_lm("gpt2", model)
    torch.save(model.state_dict(), os.path.join(OUT, "gpt2", "pytorch_model.bin"))


def llama():
    torch.manual_seed(2)
    config = LlamaConfig(vocab_size=160, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=128,
                         rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
                         bos_token_id=1, eos_token_id=2, initializer_range=0.2)
    model = LlamaForCausalLM(config)
    randomize_norms(model)
    causal_lm("llama", model, dtype=torch.bfloat16)


def randomize_norms(model):
    """Norm weights and biases away from 1 and 0, so the tests see them applied."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or ".ln_" in name:
                p.copy_((1 if name.endswith("weight") else 0) + 0.1 * torch.randn_like(p))


# The counter-based generator Sheaf's tests reproduce: element i of entry t is
# lo + (hi - lo) * u, u = top 24 bits of splitmix64(seed + t * 2^32 + i) / 2^24, in float32.
SEED = 0x5EAF5EED


def splitmix(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def generated(index, shape, lo, hi):
    n = int(np.prod(shape)) if shape else 1
    counters = np.uint64(SEED) + np.uint64(index) * np.uint64(1 << 32) + np.arange(n, dtype=np.uint64)
    u = (splitmix(counters) >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
    return (np.float32(lo) + np.float32(hi - lo) * u).astype(np.float32).reshape(shape)


def value_range(key, shape):
    if key.endswith("running_var"):
        return 0.5, 1.5
    if key.endswith("running_mean"):
        return -0.1, 0.1
    if key.endswith("bn1.weight") or key.endswith("bn2.weight") or key.endswith("bn3.weight") or key.endswith(".1.weight") and len(shape) == 1:
        return 0.5, 1.0
    if len(shape) == 1:
        return -0.1, 0.1
    fan_in = int(np.prod(shape[1:]))
    bound = float(np.float32((3.0 / fan_in) ** 0.5))
    return -bound, bound


def resnets():
    folder = os.path.join(OUT, "resnet")
    os.makedirs(folder, exist_ok=True)
    images = generated(999, [2, 3, 64, 64], -1.0, 1.0)
    np.save(os.path.join(folder, "images.npy"), images)
    manifest = {"seed": SEED, "torchvision_version": torchvision.__version__, "models": {}}
    for name in ["resnet18", "resnet50"]:
        model = getattr(torchvision.models, name)(weights=None).eval()
        entries, state = [], {}
        for index, (key, tensor) in enumerate(model.state_dict().items()):
            shape = list(tensor.shape)
            if tensor.dtype == torch.int64:
                state[key] = torch.tensor(7, dtype=torch.int64)
                entries.append({"key": key, "shape": shape, "dtype": "int64", "value": 7})
                continue
            lo, hi = value_range(key, shape)
            lo, hi = float(np.float32(lo)), float(np.float32(hi))
            state[key] = torch.from_numpy(generated(index, shape, lo, hi))
            entries.append({"key": key, "shape": shape, "dtype": "float32", "index": index, "lo": lo, "hi": hi})
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            logits = model(torch.from_numpy(images)).numpy()
        np.save(os.path.join(folder, f"{name}_logits.npy"), logits)
        manifest["models"][name] = entries
    write_json(os.path.join(folder, "resnet.json"), manifest)


if __name__ == "__main__":
    gpt2()
    llama()
    resnets()
