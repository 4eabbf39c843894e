# Written for detaudit's tests; never run (the static scan only reads it).
"""Inference post-processing: resizing predictions builds no graph, so no backward runs."""

import torch
import torch.nn.functional as F
from torch import nn


class ImageProcessor:
    @torch.no_grad()
    def post_process_semantic_segmentation(self, outputs, target_sizes):
        results = []
        for logits, size in zip(outputs.logits, target_sizes):
            resized = F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)
            results.append(resized[0].argmax(dim=0))
        return results

    @torch.inference_mode()
    def post_process_masks(self, masks, size):
        return F.interpolate(masks, size=size, mode="bilinear")


def predict(model, images, size):
    with torch.no_grad():
        out = model(images)
        return F.interpolate(out, size=size, mode="bicubic")


def evaluate(model, images, size):
    with torch.inference_mode():
        pooled = nn.AdaptiveAvgPool2d(7)(model(images))
    return pooled


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)  # raises: adaptive-avg-pool2d-backward

    def forward(self, x):
        return F.interpolate(self.pool(x), scale_factor=4, mode="bilinear")  # raises: interpolate-bilinear-backward
