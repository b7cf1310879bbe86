"""A LLaMA-style decoder in PyTorch for sparq's tests: token embedding, RMSNorm,
rotary position embeddings, attention over a KV cache, SwiGLU, tied to nothing
but a seed. Exported with past keys/values as inputs and present keys/values as
outputs, as transformers exports LLaMA and GPT-2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass
class Config:
    vocab: int = 100
    dim: int = 64
    heads: int = 4
    ffn: int = 128
    layers: int = 2
    max_positions: int = 256

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


class RMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(dim) + 0.5)

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], -1)


class Layer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        self.attn_norm, self.ffn_norm = RMSNorm(c.dim), RMSNorm(c.dim)
        self.q, self.k, self.v, self.o = (nn.Linear(c.dim, c.dim, bias=False) for _ in range(4))
        self.gate = nn.Linear(c.dim, c.ffn, bias=False)
        self.up = nn.Linear(c.dim, c.ffn, bias=False)
        self.down = nn.Linear(c.ffn, c.dim, bias=False)

    def forward(self, x, cos, sin, past_k, past_v):
        c, s = self.c, x.shape[1]
        h = self.attn_norm(x)
        split = lambda t: t.view(1, s, c.heads, c.head_dim).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = torch.cat([past_k, k], 2)
        v = torch.cat([past_v, v], 2)
        past, total = past_k.shape[2], k.shape[2]
        scores = q @ k.transpose(2, 3) / c.head_dim ** 0.5
        # Causal: new token i sees the cache and new tokens up to itself.
        future = torch.arange(total)[None, :] > (torch.arange(s)[:, None] + past)
        attn = scores.masked_fill(future, float("-inf")).softmax(-1)
        out = (attn @ v).transpose(1, 2).reshape(1, s, c.dim)
        x = x + self.o(out)
        h = self.ffn_norm(x)
        return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h)), k, v


class Decoder(nn.Module):
    """forward(ids [1, S], pos [1, S], past_k_0, past_v_0, ...) ->
    (logits [1, S, vocab], present_k_0, present_v_0, ...)."""

    def __init__(self, c: Config = Config(), seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.c = c
        self.embed = nn.Embedding(c.vocab, c.dim)
        self.layers = nn.ModuleList([Layer(c) for _ in range(c.layers)])
        self.norm = RMSNorm(c.dim)
        self.head = nn.Linear(c.dim, c.vocab, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, c.head_dim, 2).float() / c.head_dim))
        angles = torch.arange(c.max_positions).float()[:, None] * inv[None]
        angles = torch.cat([angles, angles], -1)
        self.register_buffer("cos", angles.cos())
        self.register_buffer("sin", angles.sin())

    def forward(self, ids, pos, *past):
        return self.decode(self.embed(ids), pos, past)

    def decode(self, x, pos, past):
        """The layers, norm and head on embeddings `x` at positions `pos`."""
        cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]
        present = []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, cos, sin, past[2 * i], past[2 * i + 1])
            present += [k, v]
        return (self.head(self.norm(x)), *present)

    def input_names(self) -> list[str]:
        return ["ids", "pos"] + [f"past_{kv}_{i}" for i in range(self.c.layers) for kv in "kv"]

    def output_names(self) -> list[str]:
        return ["logits"] + [f"present_{kv}_{i}" for i in range(self.c.layers) for kv in "kv"]

    def empty_cache(self, length: int = 0) -> list[torch.Tensor]:
        shape = (1, self.c.heads, length, self.c.head_dim)
        return [torch.zeros(shape) for _ in range(2 * self.c.layers)]

    def export(self, path: Path) -> Path:
        """ONNX with dynamic axes: `seq` (new tokens) and `past` (cache)."""
        ids = torch.zeros(1, 3, dtype=torch.int64)
        pos = torch.arange(2, 5)[None]
        past = [torch.randn(1, self.c.heads, 2, self.c.head_dim) for _ in range(2 * self.c.layers)]
        dyn = {"ids": {1: "seq"}, "pos": {1: "seq"}, "logits": {1: "seq"}}
        for name in self.input_names()[2:]:
            dyn[name] = {2: "past"}
        for name in self.output_names()[1:]:
            dyn[name] = {2: "total"}
        self.eval()
        torch.onnx.export(self, (ids, pos, *past), str(path), input_names=self.input_names(),
                          output_names=self.output_names(), dynamic_axes=dyn, opset_version=17)
        return path
