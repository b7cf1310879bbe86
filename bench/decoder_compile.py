#!/usr/bin/env python3
"""Compile time, peak memory and run time of a LLaMA-shaped decoder: sparq
against onnxruntime's session creation and run, on the same ONNX file.

The decoder (PyTorch, seeded random weights, exported once): token
embedding, `--layers` blocks of RMSNorm, causal multi-head attention with
rotary embeddings and a SwiGLU MLP, a final RMSNorm and the LM head.
The default is the 216 M-parameter shape of issue 16 (d 1024, 12 layers,
16 heads, MLP 2816, vocabulary 32000, 16 tokens: 866 MB of fp32 weights).
Each compile runs in a process of its own (`sparqc compile -o`, `/usr/bin/time
-v` for wall time and peak RSS), then `sparqc run --repeat N` times the runs;
onnxruntime creates its session (2 intra-op threads) and runs in a child
process that reports its own peak RSS. Ratios are to the fp32 weight bytes.

    .venv/bin/python bench/decoder_compile.py [--layers 12] [--d 1024]
        [--recipes dense,int4] [--repeat 5] [--markdown-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RECIPES = {"dense": [], "int4": ["--int4", "group=128"], "int8": ["--int8"]}


def decoder(d: int, layers: int, heads: int, ff: int, vocab: int):
    import torch
    from torch import nn

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(1 + 0.1 * torch.randn(d))

        def forward(self, x):
            return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6) * self.w

    def rotate(x, cos, sin):
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.n1, self.n2 = RMSNorm(), RMSNorm()
            self.qkv = nn.Linear(d, 3 * d, bias=False)
            self.o = nn.Linear(d, d, bias=False)
            self.gate = nn.Linear(d, ff, bias=False)
            self.up = nn.Linear(d, ff, bias=False)
            self.down = nn.Linear(ff, d, bias=False)

        def forward(self, x, cos, sin, mask):
            t = x.shape[1]
            q, k, v = self.qkv(self.n1(x)).split(d, -1)
            q, k, v = (z.reshape(1, t, heads, d // heads).transpose(1, 2)
                       for z in (q, k, v))
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
            a = (q @ k.transpose(-1, -2)) * (d // heads) ** -0.5 + mask
            a = torch.softmax(a, -1) @ v
            x = x + self.o(a.transpose(1, 2).reshape(1, t, d))
            h = self.n2(x)
            return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h))

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.norm = RMSNorm()
            self.head = nn.Linear(d, vocab, bias=False)

        def forward(self, ids):
            t = ids.shape[1]
            hd = d // heads
            inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
            ang = torch.arange(t).float()[:, None] * inv[None, :]
            ang = torch.cat([ang, ang], -1)
            cos, sin = ang.cos(), ang.sin()
            mask = torch.triu(torch.full((t, t), -1e9), 1)
            x = self.embed(ids)
            for b in self.blocks:
                x = b(x, cos, sin, mask)
            return self.head(self.norm(x))

    torch.manual_seed(0)
    m = Decoder().eval()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2:
                p.mul_(0.5)
    return m


def export(path: Path, args) -> tuple[np.ndarray, int]:
    import torch

    m = decoder(args.d, args.layers, args.heads, args.ff, args.vocab)
    ids = torch.randint(0, args.vocab, (1, args.tokens))
    params = sum(p.numel() for p in m.parameters())
    torch.onnx.export(m, ids, str(path), input_names=["ids"],
                      output_names=["logits"], opset_version=14)
    return ids.numpy(), params


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and output of `cmd` under /usr/bin/time."""
    # The last step's output (a weights file as large as the model) is
    # written back now, not during this step's timing.
    os.sync()
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True,
                       text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{p.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return wall, int(rss.group(1)) / 1024, p.stdout + p.stderr


ORT_CHILD = r"""
import json, resource, sys, time
import numpy as np, onnxruntime as ort
o = ort.SessionOptions(); o.intra_op_num_threads = 2
t0 = time.perf_counter(); s = ort.InferenceSession(sys.argv[1], o)
load = time.perf_counter() - t0
x = np.load(sys.argv[2]); s.run(None, {"ids": x}); ts = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter(); s.run(None, {"ids": x}); ts.append(time.perf_counter() - t)
print(json.dumps({"load_s": load, "run_ms": 1e3 * sorted(ts)[len(ts) // 2],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sparqc", default=str(REPO / "build" / "bin" / "sparqc"))
    ap.add_argument("--d", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--ff", type=int, default=2816)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--recipes", default="dense,int4")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--markdown-out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sparq-decoder-") as tmp:
        tmp = Path(tmp)
        model, npy = tmp / "decoder.onnx", tmp / "ids.npy"
        ids, params = export(model, args)
        np.save(npy, ids)
        wbytes = 4 * params
        rows = []
        os.sync()
        p = subprocess.run([sys.executable, "-c", ORT_CHILD, str(model), str(npy),
                            str(args.repeat)], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(p.stderr[-3000:])
        ort = json.loads(p.stdout.strip().splitlines()[-1])
        rows.append(("onnxruntime", ort["load_s"], ort["rss_mb"], ort["run_ms"]))
        for r in args.recipes.split(","):
            out = tmp / f"out-{r}"
            wall, rss, _ = timed([args.sparqc, "compile", str(model), "-o",
                                  str(out), *RECIPES[r]])
            _, _, text = timed([args.sparqc, "run", str(model), "-i",
                                f"ids={npy}", "--repeat", str(args.repeat),
                                *RECIPES[r]])
            run = float(re.search(r"run: ([0-9.]+) ms", text).group(1))
            rows.append((f"sparq {r}", wall, rss, run))
        lines = [f"LLaMA-shaped decoder: {params / 1e6:.0f} M parameters "
                 f"({wbytes / 1e6:.0f} MB fp32), d {args.d}, {args.layers} layers, "
                 f"{args.tokens} tokens, 2 threads",
                 "", "| | load / compile s | peak memory MB | x fp32 weights | run ms |",
                 "|---|---:|---:|---:|---:|"]
        for name, s, mb, ms in rows:
            lines.append(f"| {name} | {s:.1f} | {mb:.0f} | {mb * 2**20 / wbytes:.2f} | {ms:.1f} |")
        text = "\n".join(lines)
        print(text)
        if args.markdown_out:
            args.markdown_out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
