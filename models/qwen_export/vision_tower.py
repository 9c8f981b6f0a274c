"""Qwen2.5-VL's vision tower in PyTorch, from the published architecture, loading Hugging Face weights.

Weight names follow the checkpoint (`visual.patch_embed.proj`, `visual.blocks.N.{norm1,attn.qkv,attn.proj,
norm2,mlp.gate_proj,mlp.up_proj,mlp.down_proj}`, `visual.merger.{ln_q,mlp.0,mlp.2}`), so a state dict read
from the safetensors files loads with strict key checking.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from . import geometry
from .geometry import Grid
from .safetensors_io import read_folder
from .vision_config import QwenFolderError, VisionConfig, vision_config


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


class Attention(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.heads = config.num_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        batch, seq, width = x.shape
        q, k, v = self.qkv(x).reshape(batch, seq, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)  # [batch, heads, seq, dim]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        scores = torch.matmul(q, k.transpose(-1, -2)) / (q.shape[-1] ** 0.5) + mask
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.proj(out.transpose(1, 2).reshape(batch, seq, width))


class FeedForward(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.norm1 = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn = Attention(config)
        self.norm2 = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = FeedForward(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask, cos, sin)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        kernel = (config.temporal_patch_size, config.patch_size, config.patch_size)
        self.proj = nn.Conv3d(config.in_channels, config.hidden_size, kernel_size=kernel, stride=kernel, bias=False)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        c = self.config
        x = pixel_values.reshape(-1, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size)
        return self.proj(x).reshape(-1, c.hidden_size)


class PatchMerger(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        merged = config.hidden_size * config.merge_unit
        self.ln_q = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = nn.Sequential(nn.Linear(merged, merged), nn.GELU(), nn.Linear(merged, config.out_hidden_size))
        self.merged = merged

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.ln_q(x).reshape(x.shape[0], -1, self.merged))


class GridGeometry:
    """The grid-only inputs of the blocks: reorderings, rotary tables and masks, all in window order."""

    def __init__(self, config: VisionConfig, grid: Grid) -> None:
        unit = config.merge_unit
        index, window_bounds = geometry.window_index(grid, config.spatial_merge_size, config.window_size, config.patch_size)
        self.to_window = geometry.patch_permutation(index, unit)
        self.to_window_inverse = torch.argsort(self.to_window)
        #: merged token k of processor order is row merged_order[k] of the merger's output
        self.merged_order = torch.argsort(index)
        angles = geometry.rotary_angles(grid, config.head_dim, config.spatial_merge_size)
        self.cos, self.sin = geometry.rotary_cos_sin(angles[self.to_window])
        self.window_mask = geometry.block_diagonal_mask(window_bounds)
        self.full_mask = geometry.block_diagonal_mask(geometry.frame_bounds(grid))

    def mask_for(self, config: VisionConfig, block: int) -> torch.Tensor:
        return self.full_mask if block in config.fullatt_block_indexes else self.window_mask


class VisionTower(nn.Module):
    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbed(config)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.merger = PatchMerger(config)

    def forward(self, pixel_values: torch.Tensor, grid: Grid, capture_layer: int | None = None):
        """Merged embeddings in processor order; with capture_layer=L also the features at split layer L in
        processor order, counted as the seed counts (teacher.py): the hidden states after L blocks (L=0: the
        patch embedding's output; L=-1: the pixel patches themselves)."""
        geo = GridGeometry(self.config, grid)
        captured = pixel_values if capture_layer == -1 else None
        x = self.patch_embed(pixel_values).unsqueeze(0)
        x = x[:, geo.to_window]
        for number, block in enumerate(self.blocks):
            if capture_layer == number:
                captured = x[0, geo.to_window_inverse]
            x = block(x, geo.mask_for(self.config, number), geo.cos, geo.sin)
        if capture_layer == len(self.blocks):
            captured = x[0, geo.to_window_inverse]
        merged = self.merger(x)[0, geo.merged_order]
        return merged if capture_layer is None else (merged, captured)


def load_tower(folder: Path) -> VisionTower:
    """The vision tower of a Hugging Face Qwen2.5-VL folder, weights in float32."""
    config = vision_config(folder)
    weights = read_folder(folder, ("visual.", "model.visual."))
    tower = VisionTower(config)
    expected = set(tower.state_dict())
    missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
    if missing or extra:
        raise QwenFolderError(f"{folder}: vision weights do not match config.json: missing {missing[:8]}, unexpected {extra[:8]}")
    for name, tensor in tower.state_dict().items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise QwenFolderError(f"{folder}: visual.{name} has shape {list(weights[name].shape)}, config.json implies {list(tensor.shape)}")
    tower.load_state_dict(weights)
    return tower.eval()
