"""A decoder of about 100 M parameters (423 MB of fp32 weights), compiled as
a real-size model is: peak compile memory bounded by the weights, the
weights in their own file and not in the object code, and the outputs those
of PyTorch. The 216 M and 1 B figures are benchmarks (bench/decoder_compile.py,
bench/decode_speed.py), not tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TIMEOUT_S
from llama_decoder import Config, Decoder

# 8 layers of d 768 and a 32000-token vocabulary: 106 M parameters.
CONFIG = Config(vocab=32000, dim=768, heads=12, ffn=2048, layers=8, max_positions=64)
# Issue 16's aim for every recipe: compile memory at most 1.5x the fp32
# weight bytes.
MEMORY_LIMIT = 1.5
DYNAMIC = ["--dynamic", "seq<=8", "--dynamic", "past<=24"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("large")
    dec = Decoder(CONFIG, seed=3)
    path = dec.export(d / "decoder.onnx")
    weight_bytes = 4 * sum(p.numel() for p in dec.parameters())
    return dec, path, weight_bytes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The same decoder at test size: what a compile costs without weights
    (the compiler's code and libraries, MLIR and LLVM)."""
    d = tmp_path_factory.mktemp("tiny")
    return Decoder(Config(dim=128, ffn=256), seed=3).export(d / "decoder.onnx")


# Measures from a small process of its own: a child forked from this one
# (torch, the model) would report this process's size as its peak.
MEASURE = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); "
           "_, st, ru = os.wait4(p.pid, 0); "
           "print(os.waitstatus_to_exitcode(st), ru.ru_maxrss)")


def peak_rss(sparqc: Path, args: list[str], log: Path) -> int:
    """Runs sparqc with `args` and returns its peak RSS in bytes."""
    with open(log, "w") as err:
        out = subprocess.run([sys.executable, "-c", MEASURE, str(sparqc), *args],
                             stdout=subprocess.PIPE, stderr=err, text=True,
                             timeout=TIMEOUT_S).stdout.split()
    assert out and out[0] == "0", log.read_text(errors="replace")[-3000:]
    return int(out[-1]) * 1024


@pytest.mark.parametrize("recipe", [[], ["--int4", "group=128"]], ids=["dense", "int4"])
def test_compile_memory_and_layout(sparqc, model, tiny, tmp_path, recipe):
    _, path, weight_bytes = model
    out = tmp_path / "out"
    rss = peak_rss(sparqc, ["compile", str(path), "-o", str(out), *DYNAMIC, *recipe],
                   tmp_path / "stderr.txt")
    base = peak_rss(sparqc, ["compile", str(tiny), "-o", str(tmp_path / "tiny"), *DYNAMIC,
                             *recipe], tmp_path / "stderr-tiny.txt")
    grown = rss - base
    print(f"peak compile RSS {rss / 2**20:.0f} MB ({rss / weight_bytes:.2f}x the "
          f"{weight_bytes / 2**20:.0f} MB of fp32 weights); without weights "
          f"{base / 2**20:.0f} MB; the difference {grown / weight_bytes:.2f}x")
    # What grows with the weights is bounded by them: each pass holds one
    # copy of a weight at a time, not one per pass. (The fixed part is a
    # third of the weights at this size, a sixth at 216 M.)
    assert grown <= MEMORY_LIMIT * weight_bytes, (
        f"compile memory grew by {grown / weight_bytes:.2f}x the weights")
    # The weights are in model.weights, the code in model.o: the object is
    # far smaller than the weights it reads.
    meta = json.loads((out / "model.json").read_text())
    stored = (out / "model.weights").stat().st_size
    assert meta["weights"]["bytes"] + 64 == stored
    if not recipe:
        assert stored >= weight_bytes
    else:
        # The Linears' weights as int4 groups of 128 (4 bits a weight, plus
        # an f32 scale and a zero point a group: 4.31 bits), the embedding
        # table (a Gather's) and the norms as they were.
        dec = model[0]
        linear = 4 * sum(m.weight.numel() for m in dec.modules()
                         if isinstance(m, torch.nn.Linear))
        assert stored <= weight_bytes - linear + linear * 4.4 / 32 + 2**20, stored
    obj = (out / "model.o").stat().st_size
    assert obj < 4 * 2**20, f"model.o is {obj} bytes"


def test_outputs_match_pytorch(sparqc, model, run_sparqc):
    dec, path, _ = model
    ids = torch.tensor([[11, 9000, 31999, 5, 123]])
    pos = torch.arange(5)[None]
    past = dec.empty_cache(0)
    with torch.no_grad():
        want = dec(ids, pos, *past)
    inputs = {"ids": ids.numpy(), "pos": pos.numpy()}
    for name, t in zip(dec.input_names()[2:], past):
        inputs[name] = t.numpy()
    got = run_sparqc(path, inputs, ["logits", "present_k_7"], extra_args=DYNAMIC)
    np.testing.assert_allclose(got["logits"], want[0].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["present_k_7"], want[15].numpy(), rtol=1e-4, atol=1e-4)
