"""A synthetic video and template-matching detectors for sparq.video's
cascade: test_video_cascade.py and bench/detection.py.

The video is noise with bright squares that move at constant velocity, one
appearing midway. Both detectors are a matched filter (a convolution with
fixed weights), peaks by 3x3 max pooling above a threshold, and NonZero for
a data-dependent number of boxes, over a batch of images of any size.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sparq.video.metrics import Truth

SIZE = 128      # frames are [1, 1, SIZE, SIZE]
SIDE = 9        # objects are SIDE x SIDE squares
FRAMES = 24


def video(seed: int = 0):
    """Frames and ground truth: three squares moving at constant velocity,
    the third appearing at frame 8."""
    rng = np.random.default_rng(seed)
    objects = [(10.0, 12.0, 1.5, 1.0, 0), (100.0, 50.0, -0.5, 1.5, 0),
               (30.0, 90.0, 2.0, -1.5, 8)]   # x, y, vx, vy, first frame
    frames, truth = [], []
    for t in range(FRAMES):
        f = rng.normal(0.0, 0.1, (1, 1, SIZE, SIZE)).astype(np.float32)
        for k, (x, y, vx, vy, first) in enumerate(objects):
            if t < first:
                continue
            x0, y0 = int(round(x + vx * (t - first))), int(round(y + vy * (t - first)))
            f[0, 0, y0:y0 + SIDE, x0:x0 + SIDE] += 1.0
            truth.append(Truth(t, f"obj{k}", "0", (x0, y0, x0 + SIDE, y0 + SIDE)))
        frames.append(f)
    return frames, truth


def matched_filter(side: int, ring: int) -> torch.Tensor:
    """+1/area inside a side x side square, -1/area on the ring around it:
    about 1 on a square of intensity 1, about 0 on flat ground."""
    k = side + 2 * ring
    w = torch.full((k, k), -1.0 / (k * k - side * side))
    w[ring:ring + side, ring:ring + side] = 1.0 / (side * side)
    return w


class TemplateDetector(nn.Module):
    """Boxes where the matched filter peaks (3x3 maximum) above
    `threshold`; with `downsample`, on the frame average-pooled 2x2.
    `width` copies of the filter, averaged by a 1x1 convolution, make the
    expensive detector's cost without changing its response."""

    def __init__(self, downsample: bool, width: int, threshold: float) -> None:
        super().__init__()
        self.scale = 2 if downsample else 1
        side = SIDE // self.scale + (1 - (SIDE // self.scale) % 2)  # odd
        ring = 2
        self.pool = nn.AvgPool2d(2) if downsample else nn.Identity()
        self.match = nn.Conv2d(1, width, side + 2 * ring, padding=(side + 2 * ring) // 2,
                               bias=False)
        self.mix = nn.Conv2d(width, 1, 1, bias=False)
        with torch.no_grad():
            self.match.weight.copy_(matched_filter(side, ring).expand(width, 1, -1, -1))
            self.mix.weight.fill_(1.0 / width)
        self.threshold = threshold

    def forward(self, image):
        """(boxes, scores, labels, image index in the batch) of the peaks."""
        r = self.mix(self.match(self.pool(image)))
        peak = (r == nn.functional.max_pool2d(r, 3, 1, 1)) & (r > self.threshold)
        height, width = r.shape[2], r.shape[3]
        flat = r.reshape(-1)
        idx = torch.nonzero(peak.reshape(-1))[:, 0]
        scores = flat[idx]
        pixel = idx % (height * width)
        cy = (pixel // width).float() * self.scale + (self.scale - 1) / 2
        cx = (pixel % width).float() * self.scale + (self.scale - 1) / 2
        half = SIDE / 2
        # The peak is the square's center pixel: its box spans half a side
        # around that pixel's center.
        boxes = torch.stack([cx + 0.5 - half, cy + 0.5 - half,
                             cx + 0.5 + half, cy + 0.5 + half], 1)
        return boxes, scores, idx * 0, idx // (height * width)
