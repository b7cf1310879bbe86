"""Run-time dimensions: one model compiled with `--dynamic` for sequence and KV
cache lengths up to a bound, run at many lengths against PyTorch, and the errors
for lengths past the bound and for bad `--dynamic` flags.

    SPARQC=build/bin/sparqc /usr/bin/python3 -m pytest test/e2e/test_run_time_dims.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

try:
    import torch
    from torch import nn
except ImportError as exc:  # only Debian's /usr/bin/python3 has torch
    pytest.skip(f"torch is not importable ({exc}); run with /usr/bin/python3",
                allow_module_level=True)

from llama_decoder import Decoder

RunSparqc = Callable[..., dict[str, np.ndarray]]
DYNAMIC = ["--dynamic", "seq<=16", "--dynamic", "past<=32"]


@pytest.fixture(scope="module")
def decoder(tmp_path_factory) -> tuple[Decoder, Path]:
    model = Decoder().eval()
    return model, model.export(tmp_path_factory.mktemp("decoder") / "decoder.onnx")


def feed(model: Decoder, new: int, past: int, seed: int) -> dict[str, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.c.vocab, (1, new), generator=g)
    inputs = {"ids": ids, "pos": torch.arange(past, past + new)[None]}
    for name in model.input_names()[2:]:
        inputs[name] = torch.randn(1, model.c.heads, past, model.c.head_dim, generator=g)
    return {k: v.numpy() for k, v in inputs.items()}


# Prefill into an empty cache, decode one token, both bounds at once.
@pytest.mark.parametrize("new,past", [(5, 0), (3, 5), (1, 7), (1, 31), (16, 16)])
def test_decoder_at_every_length(decoder, run_sparqc: RunSparqc, new, past):
    model, path = decoder
    inputs = feed(model, new, past, seed=new * 100 + past)
    with torch.no_grad():
        expected = model(*(torch.from_numpy(v) for v in inputs.values()))
    got = run_sparqc(path, inputs, model.output_names(), extra_args=DYNAMIC)
    for name, ref in zip(model.output_names(), expected):
        assert got[name].shape == tuple(ref.shape), name
        np.testing.assert_allclose(got[name], ref.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def run_fails(sparqc: Path, model: Path, inputs: dict[str, np.ndarray], tmp: Path,
              *extra: str) -> str:
    args = []
    for name, value in inputs.items():
        np.save(tmp / f"{name}.npy", value)
        args += ["-i", f"{name}={tmp / name}.npy"]
    proc = subprocess.run([str(sparqc), "run", str(model), *args, *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert "error:" in proc.stderr
    return proc.stderr


def test_past_the_bound_is_an_error(decoder, sparqc: Path, tmp_path):
    model, path = decoder
    err = run_fails(sparqc, path, feed(model, 17, 0, seed=1), tmp_path, *DYNAMIC)
    assert "input 'ids' axis 1 ('seq') is 17, past the bound 16" in err


def test_inputs_that_disagree_are_an_error(decoder, sparqc: Path, tmp_path):
    model, path = decoder
    inputs = feed(model, 3, 4, seed=2)
    inputs["pos"] = inputs["pos"][:, :2]  # seq is 3 in ids
    err = run_fails(sparqc, path, inputs, tmp_path, *DYNAMIC)
    assert "input 'pos' axis 1 ('seq') is 2, but another input gives 'seq' = 3" in err


@pytest.mark.parametrize("flag,message", [
    ("nosuch<=4", "--dynamic names 'nosuch', which is neither an input axis"),
    ("ids:5<=4", "--dynamic names axis 5 of input 'ids', which has rank 2"),
    ("nosuch:1<=4", "--dynamic names 'nosuch', which is not an input of the model"),
    ("seq<=0", "option '--dynamic' expects NAME:AXIS<=BOUND"),
    ("seq", "option '--dynamic' expects NAME:AXIS<=BOUND"),
])
def test_bad_dynamic_flags(decoder, sparqc: Path, tmp_path, flag, message):
    model, path = decoder
    err = run_fails(sparqc, path, feed(model, 2, 2, seed=3), tmp_path,
                    "--dynamic", flag, "--dynamic", "past<=8")
    assert message in err


def test_unsupported_op_names_the_node(sparqc: Path, tmp_path):
    # A convolution over a run-time length (a run-time batch is supported):
    # not supported yet, said clearly.
    conv = nn.Conv1d(4, 4, 3).eval()
    path = tmp_path / "conv.onnx"
    torch.onnx.export(conv, (torch.randn(1, 4, 10),), str(path), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {2: "len"}}, opset_version=13)
    err = run_fails(sparqc, path, {"x": np.zeros((1, 4, 10), np.float32)}, tmp_path,
                    "--dynamic", "len<=64")
    assert "(Conv): a run-time extent is supported as the batch of 2-D" in err
    assert "input [1, 4, len]" in err
