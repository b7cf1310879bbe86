#!/usr/bin/env python3
"""sparq's hls target against hls4ml 1.3 on the same models at 16-bit fixed
point, side by side, both C-simulated with g++ (no vendor tools):

- an FC stack (64 -> 128 -> 64 -> 10, Relu) and an LSTM (16 inputs, 32
  cells, 8 steps) with a 16-output projection, every weight pruned by
  magnitude to 30% density;
- error against the float64 model on the same input (on the 2^-10 grid);
- weight storage in bits; multipliers the design asks for;
- C-simulation build time (sparqc compile + g++; hls4ml convert +
  compile);
- the largest square FC layer each C-simulates (N x N, doubling N; a
  build that fails or takes over --limit seconds stops the search).

hls4ml uses ap_fixed<16,6> for everything (its documented default form),
io_parallel, reuse factor 1; an LSTM as TOOLCHAIN.md says (no channels-last
conversion, o[0] returned). sparq uses its engine's formats (12-bit weights,
16-bit activations at 2^-10, 32 PEs).

    /tmp/hls4ml-venv/bin/python bench/hls_vs_hls4ml.py [--sparqc build/bin/sparqc]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test" / "e2e"))
from torch_modules import magnitude_prune as prune  # noqa: E402

FRAC = 10


class LstmProj(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(16, 32)
        self.proj = nn.Linear(32, 16, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.rnn(x)
        return self.proj(o[0])


class LstmOnly(nn.Module):
    """What hls4ml converts: its LSTM layer returns the last step (the
    projection is applied to it outside, in float)."""

    def __init__(self, src: LstmProj) -> None:
        super().__init__()
        self.rnn = src.rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.rnn(x)
        return o[0]


def run_sparq(sparqc: str, model: nn.Module, x: np.ndarray, root: Path, name: str) -> dict:
    """x: (steps, features) on the 2^-10 grid. Returns outputs and figures."""
    onnx_path = root / f"{name}.onnx"
    example = torch.tensor(x)
    if isinstance(model, LstmProj):
        example = example[:, None, :]
    torch.onnx.export(model, (example,), str(onnx_path), input_names=["x"],
                      output_names=["y"], opset_version=14)
    pkg = root / f"sparq_{name}"
    start = time.monotonic()
    subprocess.run([sparqc, "compile", str(onnx_path), "--target", "hls", "-o", str(pkg)],
                   check=True, capture_output=True)
    subprocess.run(["g++", "-O2", "-std=c++11", "-I.", "csim.cpp", "model.cpp", "-o", "csim"],
                   cwd=pkg, check=True, capture_output=True)
    build = time.monotonic() - start
    (np.round(x * 2 ** FRAC).astype(np.int16)).tofile(pkg / "x.bin")
    subprocess.run([str(pkg / "csim"), str(pkg), "--input", str(pkg / "x.bin"), "--output",
                    str(pkg / "y.bin")], check=True, capture_output=True)
    y = np.fromfile(pkg / "y.bin", dtype=np.int16).astype(np.float64) / 2 ** FRAC
    payload = (pkg / "model.weights").stat().st_size - 64
    cycles = json.loads((pkg / "cycles.json").read_text())
    return {"y": y, "build_s": build, "weight_bits": payload * 8, "multipliers": cycles["dsp"]}


def hls4ml_model(model: nn.Module, shape: tuple, out: Path, lstm: bool,
                 before_compile=lambda: None):
    import hls4ml
    kw = {"channels_last_conversion": "off"} if lstm else {}
    cfg = hls4ml.utils.config_from_pytorch_model(
        model, input_shape=shape, granularity="model", backend="Vitis",
        default_precision="ap_fixed<16,6>", **kw)
    start = time.monotonic()
    hm = hls4ml.converters.convert_from_pytorch_model(
        model, hls_config=cfg, output_dir=str(out), backend="Vitis", io_type="io_parallel")
    before_compile()
    hm.compile()
    return hm, time.monotonic() - start


def weights_of(model: nn.Module) -> tuple[int, int]:
    """(weights, non-zeros) of the weight matrices."""
    n = nz = 0
    for name, p in model.named_parameters():
        if "weight" in name:
            n += p.numel()
            nz += int((p != 0).sum())
    return n, nz


def compare(args, root: Path) -> list[str]:
    rng = np.random.default_rng(0)
    rows = []
    torch.manual_seed(0)
    fc = prune(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                             nn.Linear(64, 10)).eval(), 0.3)
    x = np.round(rng.uniform(-2, 2, (1, 64)) * 2 ** FRAC) / 2 ** FRAC
    x = x.astype(np.float32)
    want = fc.double()(torch.tensor(x, dtype=torch.float64)).detach().numpy()
    fc.float()
    s = run_sparq(args.sparqc, fc, x, root, "fc")
    hm, h_build = hls4ml_model(fc, (64,), root / "hls4ml_fc", False)
    h_y = hm.predict(x)
    n, nz = weights_of(fc)
    rows.append(("FC stack 64-128-64-10, 30% dense", s, np.abs(s["y"] - want.ravel()).max(),
                 np.abs(np.asarray(h_y).ravel() - want.ravel()).max(), h_build, n, nz))

    torch.manual_seed(1)
    lp = prune(LstmProj().eval(), 0.3)
    steps = 8
    x = (np.round(rng.uniform(-2, 2, (steps, 16)) * 2 ** FRAC) / 2 ** FRAC).astype(np.float32)
    with torch.no_grad():
        want = lp.double()(torch.tensor(x, dtype=torch.float64)[:, None, :]).numpy()
        lp.float()
    s = run_sparq(args.sparqc, lp, x, root, "lstm")
    # hls4ml: batch-first sequences; its LSTM returns the last step only, so
    # both are compared on the last step's projection (applied in float64
    # to hls4ml's h).
    only = LstmOnly(lp).eval()
    only.rnn.batch_first = True
    hm, h_build = hls4ml_model(only, (steps, 16), root / "hls4ml_lstm", True)
    h = np.asarray(hm.predict(x[None])).reshape(-1, 32)[-1]
    h_out = h.astype(np.float64) @ lp.proj.weight.detach().double().numpy().T
    n, nz = weights_of(lp)
    sparq_last = s["y"].reshape(steps, -1)[-1]
    rows.append(("LSTM 16->32, 8 steps, 32->16 projection, 30% dense", s,
                 np.abs(sparq_last - want[-1].ravel()).max(),
                 np.abs(h_out - want[-1].ravel()).max(), h_build, n, nz))
    out = ["| model | error vs float: sparq / hls4ml | weight bits: sparq / hls4ml (dense 16-bit) "
           "| multipliers: sparq / hls4ml (RF 1; non-zeros) | C-sim build s: sparq / hls4ml |",
           "|---|---|---|---|---|"]
    for name, s, se, he, hb, n, nz in rows:
        out.append(f"| {name} | {se:.4f} / {he:.4f} | {s['weight_bits']} / {16 * n} | "
                   f"{s['multipliers']} / {n} ({nz}) | {s['build_s']:.1f} / {hb:.1f} |")
    return out


def largest(args, root: Path) -> list[str]:
    out = ["", "| N x N FC layer | weights | sparq build s (sparqc + g++) | hls4ml build s (convert + compile) |",
           "|---:|---:|---|---|"]
    hls4ml_ok = True
    n = 128
    while n <= args.max_n:
        torch.manual_seed(0)
        layer = nn.Sequential(nn.Linear(n, n)).eval()
        x = (np.round(np.random.default_rng(0).uniform(-1, 1, (1, n)) * 2 ** FRAC)
             / 2 ** FRAC).astype(np.float32)
        s = run_sparq(args.sparqc, layer, x, root, f"sq{n}")
        h = "not tried (a smaller layer failed)"
        if hls4ml_ok:
            proc = subprocess.run(
                [sys.executable, __file__, "--one-hls4ml", str(n), "--work",
                 str(root / f"h{n}"), "--limit", str(args.limit)], capture_output=True,
                text=True)
            said = dict(line.split(" ", 1) for line in proc.stdout.splitlines()
                        if line.startswith(("built ", "ran ")))
            if proc.returncode == 0 and "ran" in said:
                h = f"{said['built']} (ran)"
            else:
                why = (f"signal {-proc.returncode}" if proc.returncode < 0 else
                       ((proc.stderr or proc.stdout).strip().splitlines() or ["?"])[-1][:100])
                h = (f"built in {said['built']} s, C-simulation crashed ({why})"
                     if "built" in said else f"build failed ({why})")
                hls4ml_ok = False
        out.append(f"| {n} | {n * n} | {s['build_s']:.1f} | {h} |")
        print(out[-1], flush=True)
        n *= 2
    return out


def one_hls4ml(n: int, work: Path, limit: float) -> None:
    """Builds one N x N layer with hls4ml under a time limit (a child
    process, so that a g++ that runs away is killed with it)."""
    import resource
    import signal
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError()))
    signal.alarm(int(limit))
    torch.manual_seed(0)
    layer = nn.Sequential(nn.Linear(n, n)).eval()
    try:
        # 16 GiB of address space for the g++ that hls4ml runs: a compiler
        # that runs out fails instead of taking the machine down.
        hm, t = hls4ml_model(layer, (n,), work, False, lambda: resource.setrlimit(
            resource.RLIMIT_AS, (16 << 30, 16 << 30)))
        print(f"built {t:.1f}", flush=True)
        hm.predict(np.zeros((1, n), np.float32))  # it runs, too
    except TimeoutError:
        subprocess.run(["pkill", "-f", str(work)], check=False)
        raise SystemExit(f"over {limit:.0f} s")
    print("ran yes", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sparqc", default=str(REPO / "build" / "bin" / "sparqc"))
    ap.add_argument("--max-n", type=int, default=4096)
    ap.add_argument("--limit", type=float, default=900)
    ap.add_argument("--one-hls4ml", type=int)
    ap.add_argument("--work")
    args = ap.parse_args()
    if args.one_hls4ml:
        one_hls4ml(args.one_hls4ml, Path(args.work), args.limit)
        return
    with tempfile.TemporaryDirectory() as d:
        lines = compare(args, Path(d))
        print("\n".join(lines), flush=True)
        lines += largest(args, Path(d))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
