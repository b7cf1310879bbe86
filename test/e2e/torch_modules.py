"""PyTorch modules that more than one test suite compiles (test/e2e through
sparqc, test/python through the package)."""

import torch
from torch import nn


class TwoLayerLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=16, hidden_size=32, num_layers=2)

    def forward(self, x: torch.Tensor) -> "tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]":
        return self.lstm(x)


class PreNormBlock(nn.Module):
    """x + MHA(LN(x)), then + MLP(LN(.)): a pre-norm transformer block."""

    def __init__(self, dim: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        attended = self.attn(h, h, h, need_weights=False)[0]
        x = x + attended
        return x + self.mlp(self.ln2(x))


class Mlp(nn.Module):
    """Four Gemm layers (TTQ leaves the first and last in fp32)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256),
            nn.ReLU(), nn.Linear(256, 120), nn.ReLU(),
            nn.Linear(120, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def trained_batchnorm(model: nn.Module) -> nn.Module:
    """Batch-norm statistics and affine parameters as training leaves them,
    not the fresh (0, 1) ones (seeded by the caller): with torchvision's
    fresh ones MobileNetV2's logits are ~1e-9, and any tolerance passes."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
    return model


def magnitude_prune(model: nn.Module, density: float) -> nn.Module:
    """Every weight matrix of `model` magnitude-pruned to `density` in place,
    as DSD/ESE training leaves it; returns the model."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "weight" in name:
                keep = int(round(p.numel() * density))
                cut = p.abs().flatten().sort(descending=True).values[keep - 1]
                p.mul_((p.abs() >= cut).float())
    return model
