"""A BEVFusion-style camera branch (lift-splat) for the BEV-pooling tests.

Six cameras look out around the vehicle; every feature-map pixel and depth
bin is a frustum point whose BEV cell follows from the camera geometry, which
is fixed, so the cells are constants of the model. The forward pass is what
BEVFusion's LSS view transform exports: depth softmax times context features
(an outer product), flattened frustum points, the points inside the grid kept
(a Gather), a scatter-add into the BEV grid (ScatterElements, reduction add,
at opset 16) and a convolution after pooling.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def frustum_cells(cams: int, depth_bins: int, height: int, width: int,
                  grid: int, cell_m: float = 0.8) -> np.ndarray:
    """BEV cell (row-major in a grid x grid map) of every frustum point, in
    (camera, depth, row, column) order; -1 where the point leaves the grid.

    Pinhole cameras 1.5 m up, 70 degrees of horizontal field of view, one
    every 360/cams degrees; depth bins from 1 m to 60 m. A point's ground
    position is its ray at that depth; the image rows only tilt the ray, so
    the upper rows reach farther (and leave the grid sooner)."""
    depths = np.linspace(1.0, 60.0, depth_bins)
    fov = math.radians(70.0)
    u = (np.arange(width) + 0.5) / width * 2.0 - 1.0        # -1..1 across
    v = (np.arange(height) + 0.5) / height * 2.0 - 1.0      # -1..1 down
    half = grid * cell_m / 2.0
    cells = np.empty((cams, depth_bins, height, width), np.int64)
    for c in range(cams):
        yaw = 2.0 * math.pi * c / cams
        for d, depth in enumerate(depths):
            # Horizontal angle of each column, forward range by row tilt.
            angle = yaw + u * fov / 2.0
            reach = depth * (1.0 + 0.15 * -v)[:, None]        # [H, 1]
            x = reach * np.cos(angle)[None, :]
            y = reach * np.sin(angle)[None, :]
            ix = np.floor((x + half) / cell_m).astype(np.int64)
            iy = np.floor((y + half) / cell_m).astype(np.int64)
            inside = (ix >= 0) & (ix < grid) & (iy >= 0) & (iy < grid)
            cells[c, d] = np.where(inside, ix * grid + iy, -1)
    return cells.reshape(-1)


class LiftSplat(nn.Module):
    """The view transform alone: depth [N, D, H, W] (a distribution over
    the bins) and context [N, C, H, W] -> BEV [1, C, grid, grid]."""

    def __init__(self, cells: np.ndarray, channels: int, grid: int) -> None:
        super().__init__()
        self.channels, self.grid = channels, grid
        kept = np.nonzero(cells >= 0)[0]
        self.register_buffer("kept", torch.from_numpy(kept))
        self.register_buffer("cells", torch.from_numpy(cells[kept]))

    def forward(self, depth: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        frustum = depth.unsqueeze(1) * context.unsqueeze(2)            # N C D H W
        points = frustum.permute(0, 2, 3, 4, 1).reshape(-1, self.channels)
        points = points[self.kept]
        index = self.cells.view(-1, 1).expand(-1, self.channels)
        bev = torch.zeros(self.grid * self.grid, self.channels)
        bev = bev.scatter_add(0, index, points)
        return bev.view(1, self.grid, self.grid, self.channels).permute(0, 3, 1, 2)


class CameraBev(nn.Module):
    """Image features [cams, in_channels, H, W] -> BEV features
    [1, channels, grid, grid]: a depth net, the lift-splat, a convolution."""

    def __init__(self, cams: int = 6, depth_bins: int = 16,
                 channels: int = 80, in_channels: int = 32, height: int = 8,
                 width: int = 22, grid: int = 128) -> None:
        super().__init__()
        self.depth_bins = depth_bins
        self.depthnet = nn.Conv2d(in_channels, depth_bins + channels, 1)
        self.splat = LiftSplat(
            frustum_cells(cams, depth_bins, height, width, grid), channels, grid)
        self.bev_conv = nn.Conv2d(channels, channels, 3, padding=1)

    @property
    def kept(self) -> torch.Tensor:
        return self.splat.kept

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.depthnet(images)
        depth = x[:, : self.depth_bins].softmax(dim=1)                 # N D H W
        context = x[:, self.depth_bins:]                               # N C H W
        return self.bev_conv(self.splat(depth, context))


def export(path, **kwargs) -> tuple[CameraBev, torch.Tensor]:
    """Exports a seeded CameraBev at opset 16; returns it and an input."""
    torch.manual_seed(0)
    model = CameraBev(**kwargs).eval()
    images = torch.randn(6, model.depthnet.in_channels, 8, 22)
    torch.onnx.export(model, (images,), str(path), opset_version=16,
                      input_names=["images"], output_names=["bev"])
    return model, images


if __name__ == "__main__":
    import sys
    export(sys.argv[1])
