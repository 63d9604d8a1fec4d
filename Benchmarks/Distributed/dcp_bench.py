"""torch.distributed.checkpoint's side of the distributed-checkpoint benchmark.

Run under torchrun (gloo, CPU): builds the same model-like state dict as
sheaf-shard-demo (same keys, shapes, dtypes and sharding: rows, columns,
replicated) as DTensors, saves it with dcp.save and loads it with dcp.load
into DTensors of the same sharding, and prints one JSON line per operation
(rank 0) with the slowest rank's seconds, as sheaf-shard-demo does.

    torchrun --nproc-per-node 4 dcp_bench.py save DIR --hidden 1024 --layers 31
    torchrun --nproc-per-node 4 dcp_bench.py load DIR --hidden 1024 --layers 31
"""
import argparse, json, os, time

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor, Replicate, Shard


def parameters(hidden, layers):
    yield "embed.weight", torch.float32, (8 * hidden, hidden), "rows"
    for layer in range(layers):
        p = f"layers.{layer}."
        yield p + "attention.qkv.weight", torch.float32, (3 * hidden, hidden), "rows"
        yield p + "attention.proj.weight", torch.float32, (hidden, hidden), "columns"
        yield p + "norm.weight", torch.float32, (hidden,), "replicated"
        yield p + "mlp.up.weight", torch.bfloat16, (4 * hidden, hidden), "rows"
        yield p + "mlp.down.weight", torch.bfloat16, (hidden, 4 * hidden), "columns"
    yield "step", torch.int64, (), "replicated"


def part(length, rank, size):
    base, extra = divmod(length, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def state_dict(mesh, hidden, layers, fill):
    rank, size = dist.get_rank(), dist.get_world_size()
    result = {}
    for key, dtype, shape, sharding in parameters(hidden, layers):
        if sharding == "replicated" or len(shape) == 0:
            local, placement = torch.empty(shape, dtype=dtype), Replicate()
        else:
            dim = 0 if sharding == "rows" else 1
            lo, hi = part(shape[dim], rank, size)
            local_shape = list(shape)
            local_shape[dim] = hi - lo
            local, placement = torch.empty(local_shape, dtype=dtype), Shard(dim)
        if fill:
            local.copy_(torch.rand(local.shape).to(dtype) if dtype.is_floating_point else torch.zeros(local.shape, dtype=dtype))
        # DCP shards evenly (torch.chunk); our parts differ only when the size does not divide.
        result[key] = DTensor.from_local(local, mesh, [placement], run_check=False, shape=shape,
                                         stride=torch.empty(shape, device="meta").stride())
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("op", choices=["save", "load"])
    parser.add_argument("folder")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    dist.init_process_group("gloo")
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    sd = state_dict(mesh, args.hidden, args.layers, fill=args.op == "save")
    total = sum(torch.empty(s, dtype=d, device="meta").nbytes for _, d, s, _ in parameters(args.hidden, args.layers))
    dist.barrier()
    start = time.perf_counter()
    if args.op == "save":
        dcp.save(sd, checkpoint_id=args.folder)
    else:
        dcp.load(sd, checkpoint_id=args.folder)
    seconds = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
    dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
    if dist.get_rank() == 0:
        print(json.dumps({"op": args.op, "ranks": dist.get_world_size(), "bytes": total, "seconds": seconds.item()}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
