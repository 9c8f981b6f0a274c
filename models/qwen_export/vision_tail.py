"""The vision tail: Qwen2.5-VL's tower resumed after block L, for one grid, as an ONNX graph.

Input `features` [batch, patches, hidden] are the hidden states after block L in processor order (what a
SplitOculo cloud network outputs, after the manifest's rescale); output `image_embeds`
[batch, patches / 4, out_hidden] in processor order, what the language model takes in place of
`<|image_pad|>` tokens. Window order, rotary tables and attention masks depend only on the grid and are
constants of the graph, so the graph serves exactly the grid it was exported for.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .geometry import Grid
from .onnx_files import export_and_place
from .vision_config import QwenFolderError
from .vision_tower import GridGeometry, VisionTower

TAIL_FORMAT = "splitoculo-qwen-vision-tail"


class VisionTail(nn.Module):
    def __init__(self, tower: VisionTower, split_layer: int, grid: Grid) -> None:
        super().__init__()
        config = tower.config
        if not -1 <= split_layer < config.depth:
            raise QwenFolderError(f"split layer {split_layer}: this tower has blocks 0..{config.depth - 1}; expected -1 (after the patch embedding) to {config.depth - 1}")
        self.config = config
        self.first_block = split_layer + 1
        self.blocks = nn.ModuleList(tower.blocks[self.first_block:])
        self.merger = tower.merger
        geo = GridGeometry(config, grid)
        self.register_buffer("to_window", geo.to_window)
        self.register_buffer("merged_order", geo.merged_order)
        self.register_buffer("cos", geo.cos)
        self.register_buffer("sin", geo.sin)
        self.register_buffer("window_mask", geo.window_mask)
        self.register_buffer("full_mask", geo.full_mask)
        self.patches = grid.patches

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features[:, self.to_window]
        for offset, block in enumerate(self.blocks):
            full = self.first_block + offset in self.config.fullatt_block_indexes
            x = block(x, self.full_mask if full else self.window_mask, self.cos, self.sin)
        return self.merger(x)[:, self.merged_order]


def tail_file_name(split_layer: int, grid: Grid) -> str:
    return f"vision_tail.L{split_layer}.{grid.t}x{grid.h}x{grid.w}.onnx"


def export_tail(tail: VisionTail, path: Path, opset: int = 17, external_data: bool | None = None) -> None:
    """Writes the graph; weights over ~1.8 GB (or with external_data) go to `<name>.data` beside it."""
    example = torch.zeros(1, tail.patches, tail.config.hidden_size)

    def export(scratch: Path) -> None:
        with torch.no_grad():
            torch.onnx.export(
                tail, (example,), str(scratch), opset_version=opset,
                input_names=["features"], output_names=["image_embeds"],
                dynamic_axes={"features": {0: "batch"}, "image_embeds": {0: "batch"}},
            )

    export_and_place(export, path, ".data", external_data)


def write_description(path: Path, tail: VisionTail, split_layer: int, grid: Grid, source: dict) -> None:
    """The sidecar JSON a worker reads to check that a tail fits a SplitOculo model."""
    description = {
        "format": TAIL_FORMAT,
        "formatVersion": 1,
        "splitLayer": split_layer,
        "gridThw": grid.as_list(),
        "hiddenSize": tail.config.hidden_size,
        "patches": grid.patches,
        "outHiddenSize": tail.config.out_hidden_size,
        "imageTokens": grid.patches // tail.config.merge_unit,
        "file": path.name,
        "externalData": (path.parent / (path.name + ".data")).exists(),
        "vision": tail.config.to_json(),
        "source": source,
    }
    path.with_suffix(".json").write_text(json.dumps(description, indent=2) + "\n")
