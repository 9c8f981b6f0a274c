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
ENCODER_FORMAT = "splitoculo-qwen-vision-encoder"
#: Qwen2.5-VL's image processor normalisation (OpenAI CLIP), used when the folder has no preprocessor_config.json
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


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


class VisionEncoder(nn.Module):
    """The whole tower for one grid, for frames that arrive as images (codec jpeg): pixel patches
    [batch, patches, channels*temporal*patch*patch] in processor order, as Qwen's image processor flattens
    them, -> merged embeddings in processor order. It is the tail after the patch embedding (L = -1)."""

    def __init__(self, tower: VisionTower, grid: Grid) -> None:
        super().__init__()
        c = tower.config
        self.config = c
        self.patch_embed = tower.patch_embed
        self.tail = VisionTail(tower, -1, grid)
        self.patches = grid.patches
        self.patch_dim = c.in_channels * c.temporal_patch_size * c.patch_size * c.patch_size

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        batch = pixel_values.shape[0]
        x = self.patch_embed(pixel_values.reshape(-1, self.patch_dim)).reshape(batch, self.patches, -1)
        return self.tail(x)


def tail_file_name(split_layer: int, grid: Grid) -> str:
    return f"vision_tail.L{split_layer}.{grid.t}x{grid.h}x{grid.w}.onnx"


def encoder_file_name(grid: Grid) -> str:
    return f"vision_encoder.{grid.t}x{grid.h}x{grid.w}.onnx"


def export_tail(tail: VisionTail, path: Path, opset: int = 17, external_data: bool | None = None) -> None:
    """Writes the graph; weights over ~1.8 GB (or with external_data) go to `<name>.data` beside it."""
    export_vision_graph(tail, torch.zeros(1, tail.patches, tail.config.hidden_size), "features", path, opset, external_data)


def export_encoder(encoder: VisionEncoder, path: Path, opset: int = 17, external_data: bool | None = None) -> None:
    export_vision_graph(encoder, torch.zeros(1, encoder.patches, encoder.patch_dim), "pixel_values", path, opset, external_data)


def export_vision_graph(module: nn.Module, example: torch.Tensor, input_name: str, path: Path, opset: int, external_data: bool | None) -> None:
    def export(scratch: Path) -> None:
        with torch.no_grad():
            torch.onnx.export(
                module, (example,), str(scratch), opset_version=opset,
                input_names=[input_name], output_names=["image_embeds"],
                dynamic_axes={input_name: {0: "batch"}, "image_embeds": {0: "batch"}},
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


def write_encoder_description(path: Path, encoder: VisionEncoder, grid: Grid, source: dict, preprocessor: dict) -> None:
    """The sidecar JSON a worker reads to turn an image into the graph's pixel patches."""
    c = encoder.config
    description = {
        "format": ENCODER_FORMAT,
        "formatVersion": 1,
        "gridThw": grid.as_list(),
        "patches": grid.patches,
        "patchDim": encoder.patch_dim,
        "patchSize": c.patch_size,
        "temporalPatchSize": c.temporal_patch_size,
        "mergeSize": c.spatial_merge_size,
        "inChannels": c.in_channels,
        "imageMean": preprocessor.get("image_mean", CLIP_MEAN),
        "imageStd": preprocessor.get("image_std", CLIP_STD),
        "outHiddenSize": c.out_hidden_size,
        "imageTokens": grid.patches // c.merge_unit,
        "file": path.name,
        "externalData": (path.parent / (path.name + ".data")).exists(),
        "source": source,
    }
    path.with_suffix(".json").write_text(json.dumps(description, indent=2) + "\n")
