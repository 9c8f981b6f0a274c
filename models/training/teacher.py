"""The teacher: Qwen2.5-VL's vision tower, read from a Hugging Face folder with our own tower code.

Features at layer L follow the seed's extraction rule (seed-facts.md, "Split layer L"; implemented once in
qwen_export/teacher.py): patch embedding, window order, blocks 0..L-1, processor order again. L = 0 is the
patch embedding's output; L = -1 the raw pixel patches. Only the first L blocks run, so precomputing for a
3B tower at L = 4 costs 4 blocks.
The whole tower (merged embeddings, what a JPEG frame is answered with) is `merged`; the tail that
resumes after L blocks (what the neural path runs) is `resume`.
"""
from __future__ import annotations

from pathlib import Path

import torch

from qwen_export.geometry import Grid
from qwen_export.teacher import teacher_features
from qwen_export.vision_tower import GridGeometry, VisionTower, load_tower

GRID_224 = Grid(1, 16, 16)


class Teacher:
    def __init__(self, folder: Path, split_layer: int, grid: Grid = GRID_224) -> None:
        self.tower: VisionTower = load_tower(folder)
        self.config = self.tower.config
        if not -1 <= split_layer <= self.config.depth:
            raise ValueError(f"split layer {split_layer}: expected -1 (pixel patches) to {self.config.depth} (blocks run)")
        self.split_layer = split_layer
        self.grid = grid
        self.geo = GridGeometry(self.config, grid)
        for parameter in self.tower.parameters():
            parameter.requires_grad_(False)

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size if self.split_layer >= 0 else self.config.in_channels * self.config.temporal_patch_size * self.config.patch_size ** 2

    def _blocks(self, x: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """Blocks first..last-1 on window-ordered hidden states [B, patches, hidden]."""
        for number in range(first, last):
            x = self.tower.blocks[number](x, self.geo.mask_for(self.config, number), self.geo.cos, self.geo.sin)
        return x

    @torch.no_grad()
    def features(self, patches: torch.Tensor) -> torch.Tensor:
        """Pixel patches [B, patches, 1176] in processor order -> hidden states after L blocks, processor
        order (qwen_export.teacher.teacher_features: the seed's rule, shared with the exporters' tests)."""
        return teacher_features(self.tower, patches, self.grid, self.split_layer)

    @torch.no_grad()
    def resume(self, features: torch.Tensor) -> torch.Tensor:
        """Hidden states after L blocks (processor order) -> merged embeddings [B, patches/4, out] (processor order)."""
        x = features
        if self.split_layer == -1:
            batch = x.shape[0]
            x = self.tower.patch_embed(x.reshape(-1, x.shape[-1])).reshape(batch, self.grid.patches, -1)
        x = self._blocks(x[:, self.geo.to_window], max(self.split_layer, 0), self.config.depth)
        return self.tower.merger(x)[:, self.geo.merged_order]

    @torch.no_grad()
    def merged(self, patches: torch.Tensor) -> torch.Tensor:
        """The whole tower: pixel patches -> merged embeddings (the JPEG path's answer input)."""
        batch = patches.shape[0]
        x = self.tower.patch_embed(patches.reshape(-1, patches.shape[-1])).reshape(batch, self.grid.patches, -1)
        x = self._blocks(x[:, self.geo.to_window], 0, self.config.depth)
        return self.tower.merger(x)[:, self.geo.merged_order]
