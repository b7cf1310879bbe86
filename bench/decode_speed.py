#!/usr/bin/env python3
"""Batch-1 decode speed of a LLaMA-shaped decoder with int4 weights: sparq's
`sparqc generate` against the memory-bandwidth bound and against onnxruntime
running the same model quantized by its own 4-bit tool (MatMulNBits, block
128, asymmetric), with the same threads, in one run.

The decoder is test/e2e/llama_decoder.py's (RMSNorm, rotary embeddings,
causal attention over a KV cache, SwiGLU), seeded, exported with past and
present keys/values. Default: d 1024, 12 layers, 16 heads, MLP 2816,
vocabulary 32000 (216 M parameters), a 16-token prompt, 32 new tokens.

The bound: bytes one token reads (int4 codes, an f32 scale and a uint8 zero
point per group of 128, for every Linear; the KV cache at its mean length;
one embedding row) over the read-only stream bandwidth that
sparq-bench-kernels (BM_StreamRead) measures with the same threads, before
and after the decodes (the median of both runs' medians).

    .venv/bin/python bench/decode_speed.py [--d 1024] [--layers 12]
        [--threads 2] [--new 32] [--markdown-out FILE]

onnxruntime's 4-bit quantizer imports onnx_ir, which the project venv lacks;
0.1.4 is the last release that works with its ml_dtypes 0.3.2, and it needs a
typing_extensions newer than Debian's. Without their dependencies (which
would replace the venv's numpy):

    .venv/bin/pip install --no-deps onnx-ir==0.1.4 typing_extensions==4.12.2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test" / "e2e"))


def stream_read_gbs(threads: int) -> float:
    """Median GB/s of BM_StreamRead with `threads` kernel threads."""
    out = subprocess.run(
        [str(REPO / "build/bin/sparq-bench-kernels"), "--benchmark_filter=BM_StreamRead",
         "--benchmark_repetitions=5", "--benchmark_format=json"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "SPARQ_NUM_THREADS": str(threads)}).stdout
    runs = [b for b in json.loads(out)["benchmarks"] if b.get("aggregate_name") == "median"]
    return runs[0]["bytes_per_second"] / 1e9


def int4_bytes_per_token(model, group: int, cache_len: float) -> float:
    """What one decode step reads: packed Linear weights, the KV cache, one
    embedding row."""
    from torch import nn
    total = 0.0
    for m in model.modules():
        if isinstance(m, nn.Linear):
            n, k = m.weight.shape
            total += n * k / 2 + n * (k // group) * 5
    c = model.c
    total += 2 * c.layers * cache_len * c.dim * 4  # keys and values, f32
    return total + c.dim * 4


# onnxruntime's side runs in child processes of this script: its onnx
# package must not meet the one torch.onnx loads.

def ort_quantize(src: str, dst: str, group: int) -> None:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    q = MatMulNBitsQuantizer(onnx.load(src), block_size=group, is_symmetric=False)
    q.process()
    onnx.save(q.model.model, dst)


def ort_decode(path: str, prompt_file: str, new: int, threads: int, heads: int,
               head_dim: int) -> None:
    """Prints the decode steps' milliseconds (prefill excluded) as JSON."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()][2:]
    past = {n: np.zeros((1, heads, 0, head_dim), np.float32) for n in names}
    prompt = np.load(prompt_file)
    ids, pos = prompt, np.arange(prompt.shape[1])[None]
    times, length = [], prompt.shape[1]
    for step in range(new):
        t0 = time.perf_counter()
        out = sess.run(None, {"ids": ids, "pos": pos, **past})
        if step > 0:
            times.append((time.perf_counter() - t0) * 1e3)
        past = dict(zip(names, out[1:]))
        ids, pos = np.array([[int(out[0][0, -1].argmax())]]), np.array([[length]])
        length += 1
    print(json.dumps(times))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--ort-quantize":
        return ort_quantize(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    if len(sys.argv) > 1 and sys.argv[1] == "--ort-decode":
        return ort_decode(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:8]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--ffn", type=int, default=2816)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--group", type=int, default=128)
    ap.add_argument("--markdown-out")
    args = ap.parse_args()

    from llama_decoder import Config, Decoder

    cfg = Config(vocab=args.vocab, dim=args.d, heads=args.heads, ffn=args.ffn,
                 layers=args.layers, max_positions=args.prompt + args.new + 8)
    model = Decoder(cfg).eval()
    params = sum(p.numel() for p in model.parameters())
    tmp = Path(tempfile.mkdtemp(prefix="sparq-decode-"))
    onnx_path = model.export(tmp / "decoder.onnx")
    per_token = int4_bytes_per_token(model, args.group, args.prompt + args.new / 2)
    del model  # a 1 B model's 4 GB are not needed while the others load it
    prompt = np.random.default_rng(0).integers(0, args.vocab, (1, args.prompt)).astype(np.int64)
    np.save(tmp / "prompt.npy", prompt)

    ort_path = tmp / "decoder_int4_ort.onnx"
    me = [sys.executable, __file__]
    subprocess.run([*me, "--ort-quantize", str(onnx_path), str(ort_path), str(args.group)],
                   check=True)

    bw = [stream_read_gbs(args.threads)]
    timing = tmp / "sparq.json"
    subprocess.run([str(REPO / "build/bin/sparqc"), "generate", str(onnx_path), "--ids",
                    str(tmp / "prompt.npy"), "--max-new-tokens", str(args.new),
                    "--int4", f"group={args.group}", "--threads", str(args.threads),
                    "--timing-json", str(timing)], check=True, capture_output=True)
    sparq = json.loads(timing.read_text())
    ort_ms = json.loads(subprocess.run(
        [*me, "--ort-decode", str(ort_path), str(tmp / "prompt.npy"), str(args.new),
         str(args.threads), str(cfg.heads), str(cfg.head_dim)],
        check=True, capture_output=True, text=True).stdout)
    bw.append(stream_read_gbs(args.threads))

    gbs = statistics.median(bw)
    sparq_ms = statistics.median(sparq["decode_ms"])
    ort_med = statistics.median(ort_ms)
    bound_ms = per_token / (gbs * 1e9) * 1e3
    rows = [
        f"Decoder: {params / 1e6:.0f} M parameters (d {args.d}, {args.layers} layers), "
        f"int4 group {args.group}, prompt {args.prompt}, {args.new} new tokens, "
        f"{args.threads} threads; {per_token / 1e6:.1f} MB read per token; read "
        f"stream {gbs:.1f} GB/s (runs: {', '.join(f'{b:.1f}' for b in bw)}).",
        "",
        "| | ms per token (median) | tokens/s | share of the bandwidth bound |",
        "|---|---:|---:|---:|",
        f"| bound (bytes / read stream) | {bound_ms:.2f} | {1e3 / bound_ms:.1f} | 100% |",
        f"| sparq `generate --int4` | {sparq_ms:.2f} | {1e3 / sparq_ms:.1f} | "
        f"{100 * bound_ms / sparq_ms:.0f}% |",
        f"| onnxruntime MatMulNBits | {ort_med:.2f} | {1e3 / ort_med:.1f} | "
        f"{100 * bound_ms / ort_med:.0f}% |",
        "",
        f"sparq / onnxruntime time: {sparq_ms / ort_med:.2f}; sparq compile "
        f"{sparq['compile_ms'] / 1e3:.1f} s, prefill {sparq['prefill_ms']:.0f} ms.",
    ]
    text = "\n".join(rows)
    print(text)
    if args.markdown_out:
        Path(args.markdown_out).write_text(text + "\n")


if __name__ == "__main__":
    main()
