"""Teacher features at split layer L, exactly as the seed takes them (core/qwen_extractor.py).

The seed's convention, which the manifest's `splitLayer` follows: L counts vision blocks RUN.
  L = -1  the raw pixel patches (the patch embedding's input, channels*temporal*patch*patch = 1176 values)
  L = 0   the patch embedding's output (no block run)
  L = k   the hidden states after blocks 0..k-1 (k = depth: after every block, before the merger)
The cloud resumes such features at block L (models/qwen_export/vision_tail.py).

The seed's rule, step by step (kept literal here so training and deployment cannot drift apart):
patch_embed; the rotary table from grid_thw; window_index and cu_window_seqlens from grid_thw; hidden
states and rotary rows reordered by window_index in groups of merge_unit (4) patches; blocks 0..L-1
(full-attention blocks attend within the frame, the others within their window); the window order undone
with argsort(window_index). The result is in the image processor's patch order.
"""
from __future__ import annotations

import torch

from . import geometry
from .geometry import Grid
from .vision_tower import VisionTower


def _by_merge_block(x: torch.Tensor, order: torch.Tensor, unit: int) -> torch.Tensor:
    """Rows of x ([batch, patches, ...]) reordered a merge block (unit consecutive patches) at a time."""
    batch, patches = x.shape[0], x.shape[1]
    grouped = x.reshape(batch, patches // unit, unit, *x.shape[2:])
    return grouped[:, order].reshape(batch, patches, *x.shape[2:])


def teacher_features(tower: VisionTower, pixel_patches: torch.Tensor, grid: Grid, L: int) -> torch.Tensor:
    """Qwen2.5-VL vision hidden states after L blocks, in processor order: the target a SplitOculo cloud
    network is trained to predict at split layer L.

    Args:
        tower: a VisionTower (models/qwen_export/vision_tower.py; `load_tower(folder)` reads a
            Hugging Face Qwen2.5-VL folder). Put it in eval mode; this function adds no no_grad, so
            wrap the call in `torch.no_grad()` when no gradient is wanted.
        pixel_patches: [patches, patch_dim] or [batch, patches, patch_dim] float, patch_dim =
            in_channels*temporal_patch_size*patch_size**2 (1176), in the image processor's order and
            layout (what Qwen's processor returns as pixel_values for one image; a batch shares `grid`).
        grid: the images' grid_thw (Grid(1, 16, 16) for 224x224).
        L: split layer, -1..depth (seed convention above).

    Returns:
        [patches, width] or [batch, patches, width] (the same rank as pixel_patches); width is
        hidden_size (1280 for Qwen2.5-VL-3B) for L >= 0, and patch_dim for L = -1 (the input, unchanged).
    """
    config = tower.config
    if not -1 <= L <= config.depth:
        raise ValueError(f"split layer {L}: expected -1 (pixel patches), 0 (patch embedding) .. {config.depth} (blocks run)")
    single = pixel_patches.dim() == 2
    pixels = pixel_patches.unsqueeze(0) if single else pixel_patches
    patch_dim = config.in_channels * config.temporal_patch_size * config.patch_size ** 2
    if pixels.dim() != 3 or pixels.shape[1] != grid.patches or pixels.shape[2] != patch_dim:
        raise ValueError(f"pixel patches of shape {list(pixel_patches.shape)}: expected [{grid.patches}, {patch_dim}] "
                         f"or [batch, {grid.patches}, {patch_dim}] for grid {grid.as_list()}")
    if L == -1:
        return pixel_patches
    batch, unit = pixels.shape[0], config.merge_unit
    hidden = tower.patch_embed(pixels.reshape(-1, patch_dim)).reshape(batch, grid.patches, -1)
    window_index, cu_window_seqlens = geometry.window_index(grid, config.spatial_merge_size, config.window_size, config.patch_size)
    angles = geometry.rotary_angles(grid, config.head_dim, config.spatial_merge_size)
    cos, sin = geometry.rotary_cos_sin(_by_merge_block(angles.unsqueeze(0), window_index, unit)[0])
    window_mask = geometry.block_diagonal_mask(cu_window_seqlens)
    full_mask = geometry.block_diagonal_mask(geometry.frame_bounds(grid))
    hidden = _by_merge_block(hidden, window_index, unit)
    for number in range(L):
        mask = full_mask if number in config.fullatt_block_indexes else window_mask
        hidden = tower.blocks[number](hidden, mask, cos, sin)
    features = _by_merge_block(hidden, torch.argsort(window_index), unit)
    return features[0] if single else features
