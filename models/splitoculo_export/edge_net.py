"""Edge network: MobileNetV2 (timm layout) -> token projector -> bottleneck encoder.

Input [B,3,224,224] normalised RGB; output [B,49,D] bottleneck tokens.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .architecture import EdgeArch
from .bottleneck import make_encoder


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels)


class DepthwiseSeparable(nn.Module):
    """timm DepthwiseSeparableConv (mobilenetv2 blocks.0.0): dw 3x3 -> ReLU6 -> pw, no activation."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv_dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn1 = _bn(cin)
        self.conv_pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = _bn(cout)
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.bn1(self.conv_dw(x)))
        y = self.bn2(self.conv_pw(y))
        return x + y if self.has_skip else y


class InvertedResidual(nn.Module):
    """timm InvertedResidual: pw expand -> ReLU6 -> dw 3x3 -> ReLU6 -> pw linear (+ skip)."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int = 6):
        super().__init__()
        mid = cin * expansion
        self.conv_pw = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = _bn(mid)
        self.conv_dw = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = _bn(mid)
        self.conv_pwl = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = _bn(cout)
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.bn1(self.conv_pw(x)))
        y = F.relu6(self.bn2(self.conv_dw(y)))
        y = self.bn3(self.conv_pwl(y))
        return x + y if self.has_skip else y


class MobileNetV2Features(nn.Module):
    """timm `mobilenetv2_*` with features_only=True, out_indices=[3]: the blocks.4 output.

    blocks.5 and blocks.6 exist so the seed's state dict loads strictly; their
    output is unused, so they never reach the exported graph.
    """

    FEATURE_BLOCK = 4

    def __init__(self, arch: EdgeArch):
        super().__init__()
        stem = arch.stem_channels()
        self.conv_stem = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = _bn(stem)
        stages = []
        cin = stem
        for kind, repeats, cout, first_stride in arch.stages():
            blocks = []
            for i in range(repeats):
                stride = first_stride if i == 0 else 1
                block = DepthwiseSeparable(cin, cout, stride) if kind == "ds" else InvertedResidual(cin, cout, stride)
                blocks.append(block)
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.bn1(self.conv_stem(x)))
        for stage in list(self.blocks)[: self.FEATURE_BLOCK + 1]:
            x = stage(x)
        return x


class StridedTokenProjector(nn.Module):
    """14x14 features -> 49 tokens: pw conv, strided dw conv, pooled 1x1 residual, pw conv."""

    def __init__(self, cin: int, hidden: int, width: int):
        super().__init__()
        self.pw_conv1 = nn.Conv2d(cin, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.dw_conv = nn.Conv2d(hidden, hidden, 3, 2, 1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.downsample = nn.Sequential(nn.Conv2d(hidden, hidden, 1, bias=False), nn.AvgPool2d(2))
        self.pw_conv2 = nn.Conv2d(hidden, width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.bn1(self.pw_conv1(x)))
        y = F.gelu(self.bn2(self.dw_conv(x)))
        residual = self.downsample(x)
        if residual.shape == y.shape:  # the seed adds it only when shapes match (14 -> 7 does)
            y = y + residual
        return _to_tokens(self.bn3(self.pw_conv2(y)))


class PoolingTokenProjector(nn.Module):
    """Variant: stride-1 dw conv and AdaptiveAvgPool(7) instead of the strided conv."""

    def __init__(self, cin: int, hidden: int, width: int):
        super().__init__()
        self.pw_conv1 = nn.Conv2d(cin, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.dw_conv = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.pool = nn.AdaptiveAvgPool2d(7)
        self.pw_conv2 = nn.Conv2d(hidden, width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.bn1(self.pw_conv1(x)))
        x = self.pool(F.gelu(self.bn2(self.dw_conv(x))))
        return _to_tokens(self.bn3(self.pw_conv2(x)))


def _to_tokens(x: torch.Tensor) -> torch.Tensor:
    """[B,C,7,7] -> [B,49,C], row-major over the grid."""
    return x.flatten(2).transpose(1, 2)


class EdgeNetwork(nn.Module):
    def __init__(self, arch: EdgeArch):
        super().__init__()
        arch.validate()
        self.arch = arch
        self.student = MobileNetV2Features(arch)
        projector = StridedTokenProjector if arch.projector_type == "strided" else PoolingTokenProjector
        self.projector = projector(arch.feature_channels(), arch.projector_hidden, arch.token_width)
        self.bottleneck = make_encoder(arch.bottleneck_method, arch.token_width, arch.bottleneck_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.projector(self.student(image)))
