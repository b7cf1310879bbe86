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


def _reference_worker(rank, world, port, out, steps, settings, epochs):
    _init(rank, world, port)
    model = DDP(_TwoParams())
    # Exact selection (the whole tensor is the sample), so the plain top-k
    # below is the reference.
    state = sparq.dgc.DGCState(sample_fraction=1.0, **settings)
    model.register_comm_hook(state, sparq.dgc.dgc_hook)
    rng = np.random.default_rng(1)
    results = []
    for step in range(steps):
        state.set_epoch(epochs[step])
        gw = torch.from_numpy(rng.standard_normal((40, 50)).astype(np.float32))
        gb = torch.from_numpy(rng.standard_normal(40).astype(np.float32))
        model.zero_grad()
        model((gw, gb)).backward()
        results.append((gw.numpy().copy(), gb.numpy().copy(),
                        model.module.weight.grad.numpy().copy(),
                        model.module.bias.grad.numpy().copy()))
    out[rank] = results
    dist.destroy_process_group()


@pytest.mark.parametrize("settings", [
    dict(momentum=0.9, density=0.05, warmup=()),
    # Warm-up densities by epoch, and local clipping (one worker: the limit
    # is clip_norm itself; the weight's gradient norm is ~45, the bias's ~6).
    dict(momentum=0.8, density=0.01, warmup=(0.25, 0.1), clip_norm=30.0),
], ids=["momentum", "warmup-and-clipping"])
def test_momentum_correction_and_masking_match_a_plain_reference(settings):
    steps = 6
    epochs = [0, 0, 1, 1, 2, 2]
    (results,) = _spawn(_reference_worker, 1, steps, settings, epochs).values()
    m = np.float32(settings["momentum"])
    densities = list(settings["warmup"]) + [settings["density"]] * 3
    clip = settings.get("clip_norm")
    u = np.zeros(2000, np.float32)
    v = np.zeros(2000, np.float32)
    ub = np.zeros(40, np.float32)

    def clipped(g):
        norm = float(np.linalg.norm(g.astype(np.float64)))
        return g * np.float32(clip / norm) if clip is not None and norm > clip else g

    for step, (gw, gb, got_w, got_b) in enumerate(results):
        k = round(densities[epochs[step]] * 2000)
        # DGC, Algorithm 1 with momentum correction and factor masking.
        u = m * u + clipped(gw.reshape(-1))
        v = v + u
        top = np.argsort(-np.abs(v), kind="stable")[:k]
        sent = np.zeros_like(v)
        sent[top] = v[top]
        v[top] = 0
        u[top] = 0
        ub = m * ub + clipped(gb)
        assert np.count_nonzero(got_w) == k, f"step {step}"
        np.testing.assert_allclose(got_w.reshape(-1), sent, rtol=1e-6, atol=0,
                                   err_msg=f"step {step}")
        np.testing.assert_allclose(got_b, ub, rtol=1e-6, atol=0, err_msg=f"step {step}")
        if clip is None:  # no scaling: the same operations, the same bits
            np.testing.assert_array_equal(got_w.reshape(-1), sent)
            np.testing.assert_array_equal(got_b, ub)


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
