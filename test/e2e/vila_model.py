"""A VILA-style vision-language model for sparq's tests: a ViT vision tower, a
projector (Linear-GELU-Linear) into the LLM's embedding space, and the
LLaMA-style decoder of llama_decoder.py taking the image's embeddings before
the prompt's tokens. Seeded random weights; small enough for CI.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from llama_decoder import Config, Decoder


class Block(nn.Module):
    """A pre-norm ViT block: attention over all patches, then a GELU MLP."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        n, d = x.shape[1], x.shape[2]
        q, k, v = self.qkv(self.norm1(x)).view(1, n, 3, self.heads, d // self.heads) \
            .permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5).softmax(-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(1, n, d))
        return x + self.mlp(self.norm2(x))


class VisionTower(nn.Module):
    """image [1, 3, 32, 32] -> embeddings [1, 16, llm_dim]: 8x8 patches, two
    ViT blocks, then the projector."""

    def __init__(self, llm_dim: int, dim: int = 48, heads: int = 4, seed: int = 1):
        super().__init__()
        torch.manual_seed(seed)
        self.patch = nn.Conv2d(3, dim, 8, stride=8)
        self.pos = nn.Parameter(torch.randn(1, 16, dim) * 0.1)
        self.blocks = nn.Sequential(Block(dim, heads), Block(dim, heads))
        self.norm = nn.LayerNorm(dim)
        self.projector = nn.Sequential(nn.Linear(dim, llm_dim), nn.GELU(),
                                       nn.Linear(llm_dim, llm_dim))

    def forward(self, image):
        x = self.patch(image).flatten(2).transpose(1, 2) + self.pos
        return self.projector(self.norm(self.blocks(x)))

    def export(self, path: Path) -> Path:
        self.eval()
        torch.onnx.export(self, (torch.randn(1, 3, 32, 32),), str(path),
                          input_names=["image"], output_names=["image_embeds"],
                          opset_version=17)
        return path


class VlmDecoder(Decoder):
    """forward(ids [1, S], image_embeds [1, I, dim], past...) -> (logits
    [1, I + S, vocab], present...): the image's embeddings come first; the
    positions continue the cache."""

    def forward(self, ids, image_embeds, *past):
        x = torch.cat([image_embeds, self.embed(ids)], 1)
        pos = (torch.arange(x.shape[1]) + past[0].shape[2])[None]
        return self.decode(x, pos, past)

    def input_names(self) -> list[str]:
        return ["ids", "image_embeds"] + super().input_names()[2:]

    def export(self, path: Path) -> Path:
        ids = torch.zeros(1, 3, dtype=torch.int64)
        image = torch.randn(1, 4, self.c.dim)
        past = self.empty_cache(2)
        dyn = {"ids": {1: "seq"}, "image_embeds": {1: "image"}, "logits": {1: "new"}}
        for name in self.input_names()[2:]:
            dyn[name] = {2: "past"}
        for name in self.output_names()[1:]:
            dyn[name] = {2: "total"}
        self.eval()
        torch.onnx.export(self, (ids, image, *past), str(path),
                          input_names=self.input_names(),
                          output_names=self.output_names(), dynamic_axes=dyn,
                          opset_version=17)
        return path


def int4_round_to_nearest(w: torch.Tensor, group: int) -> torch.Tensor:
    """`w` [out, in] through asymmetric int4 groups of `group` inputs and
    back: the AWQ formula sparq's formats library packs with (scale =
    (max - min) / 15, zero = clamp(-round(min / scale), 0, 15))."""
    out, inp = w.shape
    x = w.reshape(out, inp // group, group)
    lo, hi = x.min(-1, keepdim=True).values, x.max(-1, keepdim=True).values
    scale = torch.clamp(hi - lo, min=1e-5) / 15
    zero = torch.clamp(-torch.round(lo / scale), 0, 15)
    q = torch.clamp(torch.round(x / scale) + zero, 0, 15)
    return ((q - zero) * scale).reshape(out, inp)


def dequantized_int4(model: nn.Module, group: int) -> nn.Module:
    """A copy of `model` whose Linear weights went through int4 groups."""
    import copy
    q = copy.deepcopy(model)
    with torch.no_grad():
        for m in q.modules():
            if isinstance(m, nn.Linear):
                m.weight.copy_(int4_round_to_nearest(m.weight, group))
    return q
