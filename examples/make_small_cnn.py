#!/usr/bin/python3
"""Writes the bundled example: a small CNN (conv-BN-ReLU blocks with a residual
add, pooling and a classifier) exported from PyTorch with seeded weights, and
an input for it. Run with Debian's /usr/bin/python3 (it has torch)."""

from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16))
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.relu(x + self.block(x))
        return self.head(self.pool(x))


def main() -> None:
    torch.manual_seed(0)
    model = SmallCNN().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(1, 3, 32, 32)
    torch.onnx.export(model, x, HERE / "small_cnn.onnx", input_names=["input"],
                      output_names=["logits"], opset_version=13)
    np.save(HERE / "input.npy", x.numpy())
    with torch.no_grad():
        np.save(HERE / "expected_logits.npy", model(x).numpy())


if __name__ == "__main__":
    main()
