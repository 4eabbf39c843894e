# Written for detaudit's tests; never run (the static scan only reads it).
"""Segmentation training: per-pixel losses on 4-D logits, bilinear upsampling in forward."""

import torch
import torch.nn.functional as F
from torch import nn


class SegHead(nn.Module):
    def __init__(self, classes: int) -> None:
        super().__init__()
        self.classifier = nn.Conv2d(256, classes, 1)
        self.loss = nn.CrossEntropyLoss(ignore_index=255)  # raises: nll-loss

    def forward(self, features: torch.Tensor, size, masks: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(features)
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)  # raises: interpolate-bilinear-backward
        b, c, h, w = logits.shape
        return self.loss(logits.view(b, c, h, w), masks)


def pixel_loss(logits, masks, batch, classes, height, width):
    flat = logits.reshape(batch, classes, height, width)
    return F.cross_entropy(flat, masks)  # raises: nll-loss


def unreduced_pixel_loss(logits, masks, n, c, h, w):
    per_pixel = F.nll_loss(logits.view(n, c, h, w), masks, reduction="none")
    return per_pixel.mean()


def configurable_loss(logits, masks, n, c, h, w, reduction):
    # the reduction is a variable: a thing to check, not a literal match
    return F.cross_entropy(logits.view(n, c, h, w), masks, reduction=reduction)


def aux_loss(outputs, target):
    # an output of a model: nothing shows its rank here (the dynamic scan tells)
    return F.cross_entropy(outputs["aux"], target, ignore_index=255)


def upsample(x, mode):
    return F.interpolate(x, scale_factor=2, mode=mode)


def nearest(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")
