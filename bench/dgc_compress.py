"""Deep Gradient Compression's local work, in one run:

1. threshold-and-pack: sparq's C++ selection (top-k by sampling) and message
   packing, with momentum correction and masking (the hook's whole C++
   call), over ResNet-50's gradients (25.5 M values in its 54 conv and fc
   weights, 0.1% density; biases and norms go dense), against torch.topk of
   |v| and the gather of values and indices alone, interleaved rounds,
   medians;
2. the hook's share of a training step: ResNet-50 under DDP (one gloo
   process) with sparq.dgc.dgc_hook, the hook timed inside the step.

    PYTHONPATH=build/python .venv/bin/python bench/dgc_compress.py [--rounds 5]
"""

import argparse
import os
import statistics
import time

import numpy as np
import torch
import torch.distributed as dist
import torchvision
from torch.nn.parallel import DistributedDataParallel as DDP

import sparq
import sparq.dgc
from sparq import _sparq


def gradients():
    torch.manual_seed(0)
    net = torchvision.models.resnet50()
    return [torch.randn(p.numel()) for p in net.parameters() if p.dim() > 1]


def sparq_compress(gs, density, accumulate):
    """sparq's C++ call: selection, masking and the message; with
    `accumulate`, momentum correction first (m = 0.9, u and v from zero: the
    hook's whole C++ step), else the gradient is selected as it is."""
    # Written once first: the hook's u and v live across steps, so their
    # pages are mapped already (a fresh np.zeros faults on first write).
    us = [np.full(g.numel(), 0.0, np.float32) for g in gs]
    vs = [np.full(g.numel(), 0.0, np.float32) for g in gs]
    if not accumulate:
        for v, g in zip(vs, gs):
            v[:] = g.numpy()
    ks = [max(1, round(density * g.numel())) for g in gs]
    offsets = np.cumsum([0] + [g.numel() for g in gs[:-1]]).tolist()
    seeds = list(range(len(gs)))
    arrays = [g.numpy() if accumulate else None for g in gs]
    t = time.perf_counter()
    _sparq.dgc_compress(us, vs, arrays, ks, offsets, seeds, 0.9)
    return time.perf_counter() - t


def torch_topk_pack(vs, density):
    values, indices, at = [], [], 0
    for v in vs:
        k = max(1, round(density * v.numel()))
        _, idx = torch.topk(v.abs(), k, sorted=False)
        values.append(v[idx])
        indices.append((idx + at).to(torch.int32))
        at += v.numel()
    return torch.cat(values), torch.cat(indices)


def bench_select(rounds, density):
    gs = gradients()
    total = sum(g.numel() for g in gs)
    times = {"sparq": [], "sparq+momentum": [], "torch.topk": []}
    for _ in range(rounds):
        times["sparq"].append(sparq_compress(gs, density, False))
        times["sparq+momentum"].append(sparq_compress(gs, density, True))
        t = time.perf_counter()
        torch_topk_pack(gs, density)
        times["torch.topk"].append(time.perf_counter() - t)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"threshold-and-pack, {len(gs)} tensors, {total / 1e6:.1f} M values, "
          f"density {density}, {torch.get_num_threads()} torch threads, "
          f"{sparq.get_num_threads()} sparq threads, {rounds} rounds (medians):")
    print(f"  sparq select + message (+ masking)         {med['sparq']:8.1f} ms")
    print(f"  torch.topk of |v| + gather of values, idx  {med['torch.topk']:8.1f} ms")
    print(f"  torch.topk / sparq                         "
          f"{med['torch.topk'] / med['sparq']:8.2f}x")
    print(f"  sparq with momentum correction first       "
          f"{med['sparq+momentum']:8.1f} ms (the hook's whole C++ step)")


def bench_step(steps, batch, size):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    dist.init_process_group("gloo", rank=0, world_size=1)
    torch.manual_seed(0)
    model = DDP(torchvision.models.resnet50())
    state = sparq.dgc.DGCState()
    state.set_epoch(len(state.warmup))
    hook_s = [0.0]

    def timed(state, bucket):
        t = time.perf_counter()
        out = sparq.dgc.dgc_hook(state, bucket)
        hook_s[0] += time.perf_counter() - t
        return out
    timed.__annotations__ = sparq.dgc.dgc_hook.__annotations__
    model.register_comm_hook(state, timed)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 1000, (batch,))
    step_s, share = [], []
    for i in range(steps + 2):
        hook_s[0] = 0.0
        t = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        dt = time.perf_counter() - t
        if i >= 2:
            step_s.append(dt)
            share.append(hook_s[0] / dt)
    dist.destroy_process_group()
    print(f"ResNet-50 training step, batch {batch} at {size}x{size}, DDP on one gloo "
          f"process, {steps} steps (first 2 dropped; medians):")
    print(f"  step {statistics.median(step_s) * 1e3:.0f} ms, of which the DGC hook "
          f"{statistics.median(share) * 100:.1f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--density", type=float, default=0.001)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sparq.set_num_threads(args.threads)
    bench_select(args.rounds, args.density)
    bench_step(args.steps, args.batch, args.size)


if __name__ == "__main__":
    main()
