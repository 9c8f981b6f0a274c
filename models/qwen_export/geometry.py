"""Everything in Qwen2.5-VL's vision tower that depends only on grid_thw.

Patches arrive in the processor's order: for each frame, 2x2 merge blocks in row-major order, the four
patches of a block consecutive. Inside the blocks the tower works in *window order*: merge blocks grouped
by window (window_size // patch_size // merge_size merge blocks a side), windows row-major. Window
attention only looks inside a window; full attention inside a frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Grid:
    """grid_thw of one image: temporal, height and width in patches."""

    t: int
    h: int
    w: int

    def __post_init__(self) -> None:
        if self.t < 1 or self.h < 2 or self.w < 2 or self.h % 2 or self.w % 2:
            raise ValueError(f"grid_thw {self.as_list()}: expected t >= 1 and even h, w >= 2")

    @property
    def patches(self) -> int:
        return self.t * self.h * self.w

    def as_list(self) -> list[int]:
        return [self.t, self.h, self.w]


def patch_positions(grid: Grid, merge: int) -> torch.Tensor:
    """(row, column) of every patch in processor order: [patches, 2]."""
    rows = torch.arange(grid.h).unsqueeze(1).expand(-1, grid.w)
    cols = torch.arange(grid.w).unsqueeze(0).expand(grid.h, -1)

    def merge_order(table: torch.Tensor) -> torch.Tensor:
        return table.reshape(grid.h // merge, merge, grid.w // merge, merge).permute(0, 2, 1, 3).flatten()

    return torch.stack([merge_order(rows), merge_order(cols)], dim=-1).repeat(grid.t, 1)


def rotary_angles(grid: Grid, head_dim: int, merge: int, theta: float = 10000.0) -> torch.Tensor:
    """Rotary angles per patch in processor order: [patches, head_dim // 2] (rows' half, then columns')."""
    dim = head_dim // 2
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    table = torch.outer(torch.arange(max(grid.h, grid.w), dtype=torch.float32), inv_freq)
    return table[patch_positions(grid, merge)].flatten(1)


def rotary_cos_sin(angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables [patches, head_dim] as the attention applies them (the angles repeated twice)."""
    doubled = torch.cat([angles, angles], dim=-1)
    return doubled.cos(), doubled.sin()


def window_index(grid: Grid, merge: int, window_size: int, patch_size: int) -> tuple[torch.Tensor, list[int]]:
    """Merge-block order inside the blocks, and the cumulative patch counts that bound each window.

    Returns (index, cu_window_seqlens): index[k] is the processor-order merge block found at position k in
    window order; windows that padding left empty are dropped from the boundaries.
    """
    side = window_size // merge // patch_size
    llm_h, llm_w = grid.h // merge, grid.w // merge
    # Always pads by at least one (empty) window, exactly as the published code does; empty windows vanish below.
    pad_h, pad_w = side - llm_h % side, side - llm_w % side
    windows_h, windows_w = (llm_h + pad_h) // side, (llm_w + pad_w) // side
    blocks = torch.arange(grid.t * llm_h * llm_w).reshape(grid.t, llm_h, llm_w)
    padded = torch.nn.functional.pad(blocks, (0, pad_w, 0, pad_h), "constant", -100)
    padded = padded.reshape(grid.t, windows_h, side, windows_w, side).permute(0, 1, 3, 2, 4)
    padded = padded.reshape(grid.t, windows_h * windows_w, side, side)
    sizes = (padded != -100).sum([2, 3]).reshape(-1)
    flat = padded.reshape(-1)
    index = flat[flat != -100]
    unit = merge * merge
    bounds = [0]
    for size in sizes.tolist():
        if size:
            bounds.append(bounds[-1] + size * unit)
    return index, bounds


def frame_bounds(grid: Grid) -> list[int]:
    """Cumulative patch counts per frame: full attention never crosses frames."""
    return [grid.h * grid.w * i for i in range(grid.t + 1)]


def block_diagonal_mask(bounds: list[int]) -> torch.Tensor:
    """Additive attention mask [n, n]: 0 inside a segment, -inf across segments."""
    n = bounds[-1]
    mask = torch.full((n, n), float("-inf"))
    for start, end in zip(bounds[:-1], bounds[1:]):
        mask[start:end, start:end] = 0.0
    return mask


def patch_permutation(index: torch.Tensor, unit: int) -> torch.Tensor:
    """Patch k of window order is patch permutation[k] of processor order (merge blocks move whole)."""
    return (index.unsqueeze(1) * unit + torch.arange(unit)).flatten()


def to_window_order(x: torch.Tensor, index: torch.Tensor, unit: int) -> torch.Tensor:
    """Reorder per-patch rows [patches, ...] from processor order to window order."""
    return x[patch_permutation(index, unit)]


def to_processor_order(x: torch.Tensor, index: torch.Tensor, unit: int) -> torch.Tensor:
    """Inverse of to_window_order."""
    return x[torch.argsort(patch_permutation(index, unit))]
