"""The default model's network and loss: a small anchor-free detector with two scales (stride 8 and 16).

Each output cell predicts per-class logits and the distances (left, top, right, bottom) from its centre to the
box's sides, in units of its stride (FCOS / YOLOv8-style distance regression). Training-only code: needs torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STRIDES = (8, 16)


class ConvBnAct(nn.Sequential):
    """Conv k x k (stride s) + BatchNorm + ReLU."""

    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """Two 3x3 convs with a skip connection (channels unchanged)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = ConvBnAct(c, c)
        self.b = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(self.a(x)))


class Head(nn.Module):
    """One scale's prediction head: (B, C, h, w) -> box distances (B, 4, h, w) and class logits (B, nc, h, w)."""

    def __init__(self, c: int, nc: int) -> None:
        super().__init__()
        self.stem = ConvBnAct(c, c)
        self.box = nn.Conv2d(c, 4, 1)
        self.cls = nn.Conv2d(c, nc, 1)
        nn.init.constant_(self.cls.bias, -4.6)  # prior p = 0.01 so early training is not swamped by negatives
        nn.init.constant_(self.box.bias, 0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.stem(x)
        return F.softplus(self.box(h)), self.cls(h)


class DetNet(nn.Module):
    """Backbone to stride 32 with a top-down path back to strides 8 and 16; about 0.6 M parameters.

    forward: (B, 3, H, W) float in [0, 1], RGB, H and W multiples of 32 ->
    list per stride of (dist (B, 4, H/s, W/s) in stride units, logits (B, nc, H/s, W/s)).
    """

    def __init__(self, nc: int = 3, width: int = 32) -> None:
        super().__init__()
        c1, c2, c3, c4 = width // 2, width, width * 2, width * 3
        self.s4 = nn.Sequential(ConvBnAct(3, c1, 3, 2), ConvBnAct(c1, c2, 3, 2), Residual(c2))
        self.s8 = nn.Sequential(ConvBnAct(c2, c3, 3, 2), Residual(c3), Residual(c3))
        self.s16 = nn.Sequential(ConvBnAct(c3, c4, 3, 2), Residual(c4), Residual(c4))
        self.s32 = nn.Sequential(ConvBnAct(c4, c4, 3, 2), Residual(c4))
        self.lat16 = ConvBnAct(c4 * 2, c4, 1)
        self.lat8 = ConvBnAct(c3 + c4, c3, 1)
        self.fuse8 = Residual(c3)
        self.fuse16 = Residual(c4)
        self.head8 = Head(c3, nc)
        self.head16 = Head(c4, nc)

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        f4 = self.s4(x)
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        p16 = self.fuse16(self.lat16(torch.cat([f16, F.interpolate(f32, scale_factor=2.0, mode="nearest")], 1)))
        p8 = self.fuse8(self.lat8(torch.cat([f8, F.interpolate(p16, scale_factor=2.0, mode="nearest")], 1)))
        return [self.head8(p8), self.head16(p16)]


def cell_centres(h: int, w: int, stride: int) -> torch.Tensor:
    """Centres of an (h, w) grid's cells in input pixels: (h*w, 2) as (x, y), row-major."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).add_(0.5).mul_(stride)


def flatten_predictions(outs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes (B, N, 4) x1y1x2y2 in input pixels and logits (B, N, nc), cells of stride 8 first then 16."""
    boxes, logits = [], []
    for (dist, cls), stride in zip(outs, STRIDES, strict=True):
        h, w = dist.shape[2:]
        c = cell_centres(h, w, stride).to(dist.device)
        d = dist.flatten(2).transpose(1, 2) * stride
        boxes.append(torch.cat([c - d[..., :2], c + d[..., 2:]], -1))
        logits.append(cls.flatten(2).transpose(1, 2))
    return torch.cat(boxes, 1), torch.cat(logits, 1)


def box_giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and GIoU of paired boxes (..., 4) xyxy -> two (...) tensors."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    hull = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])).clamp(min=0).prod(-1)
    return iou, iou - (hull - union) / (hull + 1e-7)


def detection_loss(
    outs: list[tuple[torch.Tensor, torch.Tensor]],
    gt_box: torch.Tensor,
    gt_cls: torch.Tensor,
    weight: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Quality focal loss on class scores (target = IoU of the predicted box) plus GIoU loss on positive cells.

    gt_box: (B, N, 4) xyxy pixels of the cell's assigned box; gt_cls: (B, N) int64 class, -1 = background;
    weight: (B, N) float, 0 where the cell is ignored (near a too-small target). Cells ordered as
    ``flatten_predictions`` orders them.
    """
    boxes, logits = flatten_predictions(outs)
    pos = gt_cls >= 0
    n_pos = max(float(pos.sum()), 1.0)
    target = torch.zeros_like(logits)
    iou, giou = box_giou(boxes[pos], gt_box[pos])
    target[pos, gt_cls[pos]] = iou.detach().clamp(min=0.05)
    prob = logits.sigmoid()
    qfl = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * (prob - target).abs().pow(2)
    cls_loss = (qfl.sum(-1) * weight).sum() / n_pos
    box_loss = (1.0 - giou).sum() / n_pos
    total = cls_loss + 2.0 * box_loss
    return total, {"cls": cls_loss.item(), "box": box_loss.item(), "iou": iou.mean().item() if len(iou) else 0.0}


class ExportWrapper(nn.Module):
    """The network as exported: (1, 3, H, W) float [0, 1] RGB -> (1, 4 + nc, N) YOLOv8 layout.

    Rows 0..3 are box centre x, centre y, width and height in input pixels; rows 4.. are class scores
    after a sigmoid (no objectness row).
    """

    def __init__(self, net: DetNet, height: int, width: int) -> None:
        super().__init__()
        self.net = net
        centres = [cell_centres(height // s, width // s, s) for s in STRIDES]
        strides = [torch.full((len(c), 1), float(s)) for c, s in zip(centres, STRIDES, strict=True)]
        self.register_buffer("centres", torch.cat(centres, 0).t().unsqueeze(0))  # (1, 2, N)
        self.register_buffer("strides", torch.cat(strides, 0).t().unsqueeze(0))  # (1, 1, N)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = self.net(x)
        dist = torch.cat([d.flatten(2) for d, _ in outs], 2) * self.strides  # (1, 4, N) pixels
        scores = torch.cat([c.flatten(2) for _, c in outs], 2).sigmoid()
        lt, rb = dist[:, :2], dist[:, 2:]
        xy = self.centres + (rb - lt) * 0.5
        wh = lt + rb
        return torch.cat([xy, wh, scores], 1)
