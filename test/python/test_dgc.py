"""sparq.dgc: Deep Gradient Compression as a DDP communication hook, with
processes on gloo over 127.0.0.1 (torch.multiprocessing.spawn)."""

import os
import socket
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

import sparq
import sparq.dgc

sys.path.insert(0, os.path.dirname(__file__))
import digits  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _init(rank: int, world: int, port: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world)


def _spawn(fn, world: int, *args):
    """Runs fn(rank, world, port, out, *args) in `world` processes; returns
    what each wrote into its slot of a shared dict."""
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(fn, args=(world, _free_port(), out) + args, nprocs=world, join=True)
        return dict(out)


# --- momentum correction and factor masking, step by step -------------------

class _TwoParams(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(40, 50))
        self.bias = nn.Parameter(torch.zeros(40))

    def forward(self, grads):
        # d(sum(weight * gw) + sum(bias * gb)) = (gw, gb): the gradients we choose.
        gw, gb = grads
        return (self.weight * gw).sum() + (self.bias * gb).sum()


def _reference_worker(rank, world, port, out, steps, density, momentum):
    _init(rank, world, port)
    model = DDP(_TwoParams())
    # Exact selection (the whole tensor is the sample), so the plain top-k
    # below is the reference.
    state = sparq.dgc.DGCState(momentum=momentum, density=density, warmup=(),
                               sample_fraction=1.0)
    model.register_comm_hook(state, sparq.dgc.dgc_hook)
    rng = np.random.default_rng(1)
    results = []
    for _ in range(steps):
        gw = torch.from_numpy(rng.standard_normal((40, 50)).astype(np.float32))
        gb = torch.from_numpy(rng.standard_normal(40).astype(np.float32))
        model.zero_grad()
        model((gw, gb)).backward()
        results.append((gw.numpy().copy(), gb.numpy().copy(),
                        model.module.weight.grad.numpy().copy(),
                        model.module.bias.grad.numpy().copy()))
    out[rank] = results
    dist.destroy_process_group()


def test_momentum_correction_and_masking_match_a_plain_reference():
    steps, density, m = 6, 0.05, 0.9
    (results,) = _spawn(_reference_worker, 1, steps, density, m).values()
    k = round(density * 40 * 50)
    u = np.zeros(2000, np.float32)
    v = np.zeros(2000, np.float32)
    ub = np.zeros(40, np.float32)
    for step, (gw, gb, got_w, got_b) in enumerate(results):
        # DGC, Algorithm 1 with momentum correction and factor masking.
        u = np.float32(m) * u + gw.reshape(-1)
        v = v + u
        top = np.argsort(-np.abs(v), kind="stable")[:k]
        sent = np.zeros_like(v)
        sent[top] = v[top]
        v[top] = 0
        u[top] = 0
        ub = np.float32(m) * ub + gb
        assert np.count_nonzero(got_w) == k, f"step {step}"
        np.testing.assert_array_equal(got_w.reshape(-1), sent, err_msg=f"step {step}")
        np.testing.assert_array_equal(got_b, ub, err_msg=f"step {step}")


# --- training: accuracy against dense DDP ----------------------------------

def _train_worker(rank, world, port, out, use_dgc, epochs, seed=0):
    _init(rank, world, port)
    torch.manual_seed(seed)
    xtr, ytr, xte, yte = digits.load()
    xtr, ytr = xtr[rank::world], ytr[rank::world]
    model = DDP(digits.DigitsCNN())
    if use_dgc:
        state = sparq.dgc.DGCState(momentum=0.9)
        model.register_comm_hook(state, sparq.dgc.dgc_hook)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.0)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for e in range(epochs):
        if use_dgc:
            state.set_epoch(e)
        digits.epoch(model, opt, xtr, ytr, batch=16, seed=seed * 1000 + e)
    out[rank] = (digits.accuracy(model.module, xte, yte),
                 state.compression_ratio() if use_dgc else 1.0)
    dist.destroy_process_group()


def test_dgc_trains_as_well_as_dense_ddp():
    epochs, seeds = 30, (0, 1)
    dense, dgc = [], []
    for seed in seeds:
        d = _spawn(_train_worker, 2, False, epochs, seed)
        g = _spawn(_train_worker, 2, True, epochs, seed)
        # DDP keeps the replicas identical: both ranks see the same accuracy.
        assert d[0][0] == d[1][0] and g[0][0] == g[1][0]
        dense.append(d[0][0])
        dgc.append(g[0][0])
        print(f"\ndigits, 2 workers, {epochs} epochs, seed {seed}: dense DDP "
              f"{d[0][0]:.2f}%, DGC {g[0][0]:.2f}% (traffic {g[0][1]:.0f}x less)")
    assert np.mean(dgc) >= np.mean(dense) - 1.0


# --- bytes on the wire for ResNet-50's gradients ----------------------------

def _bytes_worker(rank, world, port, out, steps):
    import torchvision
    _init(rank, world, port)
    torch.manual_seed(rank)
    net = torchvision.models.resnet50()
    model = DDP(net)
    state = sparq.dgc.DGCState()
    model.register_comm_hook(state, sparq.dgc.dgc_hook)
    state.set_epoch(len(state.warmup))  # past the warm-up: density 0.1%
    x = torch.randn(2, 3, 64, 64)
    for _ in range(steps):
        model.zero_grad()
        model(x).square().mean().backward()
    out[rank] = (state.bytes_sent, state.dense_bytes,
                 sum(p.numel() for p in net.parameters()))
    dist.destroy_process_group()


def test_dgc_sends_270x_fewer_bytes_for_resnet50_gradients():
    steps = 2
    got = _spawn(_bytes_worker, 2, steps)
    for rank, (sent, dense, params) in got.items():
        assert params == 25_557_032
        assert dense == steps * params * 4
        ratio = dense / sent
        print(f"\nrank {rank}: {sent} bytes sent for {dense} dense: {ratio:.1f}x")
        assert ratio >= 270
