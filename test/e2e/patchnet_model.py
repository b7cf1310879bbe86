"""A PatchNet-like tracking head (PatchNet's patchwise correlation): the
template (3x64x64) split into 8x8 patches, 64 of them, each correlated with
the search region (3x119x119) at stride 2 and normalized by the energy of
the search window it covers, then aggregation convolutions to a response
map. Written as PyTorch exports it to ONNX: the patches by Reshape and
Transpose, the correlation a Conv whose weights are those patches, the
energy a Conv of the squared search with a box of ones."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

PATCH, STRIDE, EPS = 8, 2, 1e-6


def patchwise_correlation(search: torch.Tensor, template: torch.Tensor,
                          patch: int = PATCH, stride: int = STRIDE,
                          eps: float = EPS) -> torch.Tensor:
    """[N, P, OH, OW]: P = (H_t / patch) * (W_t / patch) template patches,
    each correlated with every search window of its size at `stride`,
    divided by sqrt(the window's energy + eps). Batch 1 template."""
    c, ht, wt = template.shape[1:]
    p = template.reshape(c, ht // patch, patch, wt // patch, patch)
    p = p.permute(1, 3, 0, 2, 4).reshape(-1, c, patch, patch)
    corr = F.conv2d(search, p, stride=stride)
    box = torch.ones(1, c, patch, patch)
    energy = F.conv2d(search * search, box, stride=stride)
    return corr / torch.sqrt(energy + eps)


class PatchNetHead(nn.Module):
    """The correlation (39 M MACs) and two aggregation convolutions (29 M):
    68 M MACs, near PatchNet's 58 M at its published shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.agg = nn.Sequential(
            nn.Conv2d(64, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 1, 1))

    def forward(self, search: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
        return self.agg(patchwise_correlation(search, template))


def example_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return torch.randn(1, 3, 119, 119), torch.randn(1, 3, 64, 64)


def reference(search: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """The correlation written as loops over patches and windows: what the
    fused op must compute, independent of the conv formulation above."""
    c, ht, wt = template.shape[1:]
    oh = (search.shape[2] - PATCH) // STRIDE + 1
    ow = (search.shape[3] - PATCH) // STRIDE + 1
    windows = search[0].unfold(1, PATCH, STRIDE).unfold(2, PATCH, STRIDE)
    # windows: [C, OH, OW, PATCH, PATCH]
    energy = (windows.double() ** 2).sum(dim=(0, 3, 4))
    out = torch.zeros(1, (ht // PATCH) * (wt // PATCH), oh, ow, dtype=torch.float64)
    k = 0
    for i in range(ht // PATCH):
        for j in range(wt // PATCH):
            t = template[0, :, i * PATCH:(i + 1) * PATCH, j * PATCH:(j + 1) * PATCH]
            out[0, k] = torch.einsum("chwab,cab->hw", windows.double(), t.double())
            k += 1
    return (out / torch.sqrt(energy + EPS)).float()


class Correlation(nn.Module):
    """The correlation alone: its output is what sparq.correlation computes."""

    def forward(self, search: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
        return patchwise_correlation(search, template)


def export(module: nn.Module, path) -> tuple[torch.Tensor, torch.Tensor]:
    """Exports `module` (search, template -> y) at opset 16; its inputs."""
    search, template = example_inputs()
    torch.onnx.export(module.eval(), (search, template), str(path),
                      input_names=["search", "template"], output_names=["y"],
                      opset_version=16)
    return search, template
