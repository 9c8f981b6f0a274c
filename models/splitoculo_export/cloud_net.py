"""Cloud network: bottleneck decoder -> transformer upsampler.

Input [B,49,D] dequantised tokens; output [B,256,W] predicted vision hidden
states of the target layer (W = 1280 for Qwen2.5-VL-3B), in the order the
network was trained to emit (Qwen's merge-block patch order).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from .architecture import CloudArch
from .bottleneck import make_decoder


class SelfAttention(nn.Module):
    """nn.MultiheadAttention's parameters (in_proj_weight, in_proj_bias, out_proj) with
    an explicit forward: torch's fused fast path does not export to ONNX."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        head_width = width // self.heads
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        qkv = qkv.reshape(batch, tokens, 3, self.heads, head_width).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(head_width), dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(batch, tokens, width)
        return self.out_proj(out)


class EncoderLayer(nn.Module):
    """nn.TransformerEncoderLayer(batch_first=True, norm_first=True, activation=gelu), same keys."""

    def __init__(self, width: int, heads: int, ffn: int):
        super().__init__()
        self.self_attn = SelfAttention(width, heads)
        self.linear1 = nn.Linear(width, ffn)
        self.linear2 = nn.Linear(ffn, width)
        self.norm1 = nn.LayerNorm(width)
        self.norm2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.norm1(x))
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class Encoder(nn.Module):
    def __init__(self, layers: int, width: int, heads: int, ffn: int):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(width, heads, ffn) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class TransformerUpsampler(nn.Module):
    GRID_IN = 7
    GRID_OUT = 16

    def __init__(self, arch: CloudArch):
        super().__init__()
        width = arch.token_width
        self.initial_upsample = arch.initial_upsample
        self.pre_process = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.GELU())
        if arch.initial_upsample == "pixelshuffle":
            self.pixel_shuffle = nn.Sequential(nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.GELU())
        self.pos_embed = nn.Parameter(torch.randn(1, self.GRID_OUT * self.GRID_OUT, width) * 0.02)
        self.transformer = Encoder(arch.transformer_layers, width, arch.heads, arch.ffn_width())
        self.output_norm = nn.LayerNorm(width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, count, width = tokens.shape
        x = tokens.transpose(1, 2).reshape(batch, width, self.GRID_IN, self.GRID_IN)
        x = self.pre_process(x)
        if self.initial_upsample == "pixelshuffle":
            x = self.pixel_shuffle(x)  # 7x7 -> 14x14
        size = (self.GRID_OUT, self.GRID_OUT)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        x = x.flatten(2).transpose(1, 2) + self.pos_embed
        return self.output_norm(self.transformer(x))


class CloudNetwork(nn.Module):
    def __init__(self, arch: CloudArch):
        super().__init__()
        arch.validate()
        self.arch = arch
        self.bottleneck = make_decoder(arch.bottleneck_method, arch.token_width, arch.bottleneck_dim)
        self.upsampler = TransformerUpsampler(arch)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.upsampler(self.bottleneck(tokens))
