"""One 224x224 crop, two inputs: the student's normalised NCHW tensor and the teacher's pixel patches.

The teacher's patches are what Qwen2.5-VL's image processor makes of the crop (224 is a multiple of
28, so its resize keeps the size): rescale 1/255, normalise with the processor's mean/std, the still
image repeated over the temporal patch, rows in processor order (2x2 merge blocks in raster order,
raster inside a block), columns (channel, time, y, x). The cloud worker's JPEG path
(cloud/answer/qwen-pixels.ts) makes the same layout.
"""
from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def crops_to_uint8(crops) -> torch.Tensor:
    """PIL crops -> uint8 [B,H,W,3] (how shards store them)."""
    return torch.from_numpy(np.stack([np.asarray(c, dtype=np.uint8) for c in crops]))


def student_input(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 [B,H,W,3] -> float32 [B,3,H,W], scaled to [0,1] and ImageNet-normalised (the edge's preprocessing)."""
    x = rgb.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def teacher_patches(rgb: torch.Tensor, patch: int = 14, merge: int = 2, temporal: int = 2,
                    mean=CLIP_MEAN, std=CLIP_STD) -> torch.Tensor:
    """uint8 [B,H,W,3] -> float32 [B, patches, 3*temporal*patch*patch] in processor order."""
    batch, height, width, _ = rgb.shape
    if height % (patch * merge) or width % (patch * merge):
        raise ValueError(f"crop {width}x{height}: expected multiples of {patch * merge}")
    x = rgb.permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    gh, gw = height // patch, width // patch
    # [B, C, gh/m, m, p, gw/m, m, p] -> [B, gh/m, gw/m, m(y), m(x), C, p(y), p(x)]
    x = x.reshape(batch, 3, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.permute(0, 2, 5, 3, 6, 1, 4, 7)
    x = x.unsqueeze(6).expand(-1, -1, -1, -1, -1, -1, temporal, -1, -1)  # time after channel
    return x.reshape(batch, gh * gw, 3 * temporal * patch * patch)
