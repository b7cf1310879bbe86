"""A small two-stage detector built from torchvision parts, with random but
seeded weights: a convolutional backbone, torchvision's RPNHead, proposals
decoded from anchors, the top-scoring ones kept by NMS, RoIAlign of their
features, torchvision's TwoMLPHead and FastRCNNPredictor, and a last NMS
over the refined boxes. Used by test_detection_model.py and
bench/detector_vs_onnxruntime.py.
"""

from __future__ import annotations

import math

import torch
import torchvision
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.rpn import RPNHead

IMAGE = 64          # input is [1, 3, IMAGE, IMAGE]
STRIDE = 4          # the backbone's feature stride
SIZES = (8.0, 16.0, 32.0)  # anchor sides, square anchors at every cell
PRE_NMS = 64        # proposals scored before the first NMS
POST_NMS = 16       # proposals refined, at most
CLASSES = 4         # with background as class 0


def decode(boxes: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """Faster R-CNN's box coding: (dx, dy, dw, dh) relative to `boxes`
    (x1, y1, x2, y2), clipped to the image."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    cx = boxes[:, 0] + 0.5 * w
    cy = boxes[:, 1] + 0.5 * h
    dw = torch.clamp(deltas[:, 2], max=math.log(1000.0 / 16))
    dh = torch.clamp(deltas[:, 3], max=math.log(1000.0 / 16))
    pcx = deltas[:, 0] * w + cx
    pcy = deltas[:, 1] * h + cy
    pw = torch.exp(dw) * w
    ph = torch.exp(dh) * h
    out = torch.stack([pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph], 1)
    return torch.clamp(out, 0.0, float(IMAGE))


def anchors(cells: int) -> torch.Tensor:
    """[cells * cells * len(SIZES), 4], in the RPN head's output order."""
    out = []
    for y in range(cells):
        for x in range(cells):
            cx, cy = (x + 0.5) * STRIDE, (y + 0.5) * STRIDE
            for s in SIZES:
                out.append([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])
    return torch.tensor(out)


class TwoStageDetector(torch.nn.Module):
    def __init__(self, channels: int = 32, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.backbone = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(16, channels, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(channels, channels, 3, padding=1), torch.nn.ReLU())
        self.rpn = RPNHead(channels, len(SIZES))
        self.box_head = TwoMLPHead(channels * 7 * 7, 64)
        self.predictor = FastRCNNPredictor(64, CLASSES)
        self.register_buffer("anchors", anchors(IMAGE // STRIDE))
        # Small random weights keep proposals near their anchors (so that
        # NMS has overlaps to suppress); larger ones on the classifiers
        # spread scores and labels apart.
        with torch.no_grad():
            for p in self.parameters():
                p.normal_(0.0, 0.05)
            self.rpn.cls_logits.weight.normal_(0.0, 3.0)
            self.box_head.fc6.weight.normal_(0.0, 0.08)
            self.box_head.fc7.weight.normal_(0.0, 0.08)
            self.predictor.cls_score.weight.normal_(0.0, 1.0)

    def stages(self, image: torch.Tensor):
        """The first stage's scores and kept regions, and the class
        probabilities of the second."""
        f = self.backbone(image)
        (obj,), (deltas,) = self.rpn([f])
        a = len(SIZES)
        scores = torch.sigmoid(obj.permute(0, 2, 3, 1).reshape(-1))
        deltas = deltas.reshape(1, a, 4, f.shape[2], f.shape[3])
        deltas = deltas.permute(0, 3, 4, 1, 2).reshape(-1, 4)
        proposals = decode(self.anchors, deltas)
        top, idx = scores.topk(PRE_NMS)
        proposals = proposals[idx]
        keep = torchvision.ops.nms(proposals, top, 0.7)[:POST_NMS]
        rois = proposals[keep]
        regions = torch.cat([rois[:, :1] * 0, rois], 1)
        pooled = torchvision.ops.roi_align(f, regions, (7, 7), spatial_scale=1.0 / STRIDE,
                                           sampling_ratio=2, aligned=True)
        logits, box_deltas = self.predictor(self.box_head(pooled))
        return scores, rois, torch.softmax(logits, -1), box_deltas

    def forward(self, image: torch.Tensor):
        _, rois, probs, box_deltas = self.stages(image)
        scores, labels = probs[:, 1:].max(1)
        labels = labels + 1
        # The predicted class's box: its deltas picked by a one-hot mask.
        onehot = (torch.arange(CLASSES) == labels[:, None]).float()
        chosen = (box_deltas.reshape(-1, CLASSES, 4) * onehot[:, :, None]).sum(1)
        boxes = decode(rois, chosen)
        final = torchvision.ops.nms(boxes, scores, 0.5)
        return boxes[final], scores[final], labels[final]


def image(seed: int) -> torch.Tensor:
    """Noise with three bright rectangles: something for the RPN to find."""
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(1, 3, IMAGE, IMAGE, generator=g) * 0.2
    for _ in range(3):
        x, y = torch.randint(0, IMAGE - 16, (2,), generator=g).tolist()
        w, h = torch.randint(8, 24, (2,), generator=g).tolist()
        img[0, :, y:y + h, x:x + w] += torch.rand(3, 1, 1, generator=g)
    return img


def margin(model: TwoStageDetector, img: torch.Tensor) -> float:
    """The smallest gap between values whose order decides the output: the
    first stage's top scores, the regions' class scores, each region's two
    best classes. Float rounding (~1e-6) cannot flip a larger one."""
    def gap(v: torch.Tensor) -> float:
        v = v.sort(descending=True).values
        return (v[:-1] - v[1:]).min().item() if len(v) > 1 else 1.0
    with torch.no_grad():
        scores, _, probs, _ = model.stages(img)
    best = probs[:, 1:].sort(1, descending=True).values
    top = scores.sort(descending=True).values[:PRE_NMS + 1]
    return min(gap(top), gap(best[:, 0]), (best[:, 0] - best[:, 1]).min().item())


def export(model: TwoStageDetector, path: str) -> None:
    image = torch.zeros(1, 3, IMAGE, IMAGE)
    torch.onnx.export(model, (image,), path, input_names=["image"],
                      output_names=["boxes", "scores", "labels"], opset_version=16)
