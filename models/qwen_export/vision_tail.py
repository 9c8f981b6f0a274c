"""The vision tail: Qwen2.5-VL's tower resumed at split layer L, for one grid, as an ONNX graph.

Split layer L follows the seed (models/qwen_export/teacher.py): the features are the hidden states after L
blocks, so the tail runs blocks L..depth-1 and the merger. L = 0 takes the patch embedding's output;
L = depth runs only the merger; L = -1 takes the raw pixel patches (channels*temporal*patch*patch values a
patch) and runs the patch embedding first, which is the whole tower.

Input `features` [batch, patches, width] in processor order (what a SplitOculo cloud network outputs, after
the manifest's rescale); width is hidden_size, or the patch size in values for L = -1. Output
`image_embeds` [batch, patches / 4, out_hidden] in processor order, what the language model takes in place
of `<|image_pad|>` tokens. Window order, rotary tables and attention masks depend only on the grid and are
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
TAIL_FORMAT_VERSION = 2
ENCODER_FORMAT = "splitoculo-qwen-vision-encoder"
#: Stated in the manifest and the tail's sidecar: L = hidden states after L blocks (the seed's count).
#: Files without it meant "the output of block L" (they ran blocks L+1..) and are refused.
SPLIT_LAYER_CONVENTION = "after-L-blocks"
#: Qwen2.5-VL's image processor normalisation (OpenAI CLIP), used when the folder has no preprocessor_config.json
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


class VisionTail(nn.Module):
    def __init__(self, tower: VisionTower, split_layer: int, grid: Grid) -> None:
        super().__init__()
        config = tower.config
        if not -1 <= split_layer <= config.depth:
            raise QwenFolderError(
                f"split layer {split_layer}: this tower has {config.depth} blocks; expected -1 (pixel patches), "
                f"0 (after the patch embedding) .. {config.depth} (after that many blocks)")
        self.config = config
        self.split_layer = split_layer
        self.first_block = max(split_layer, 0)
        # L = -1: the features are the pixel patches, so the patch embedding is part of the tail.
        self.patch_embed = tower.patch_embed if split_layer == -1 else None
        self.patch_dim = config.in_channels * config.temporal_patch_size * config.patch_size * config.patch_size
        self.feature_width = self.patch_dim if split_layer == -1 else config.hidden_size
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
        x = features
        if self.patch_embed is not None:
            x = self.patch_embed(x.reshape(-1, self.patch_dim)).reshape(x.shape[0], self.patches, -1)
        x = x[:, self.to_window]
        for offset, block in enumerate(self.blocks):
            full = self.first_block + offset in self.config.fullatt_block_indexes
            x = block(x, self.full_mask if full else self.window_mask, self.cos, self.sin)
        return self.merger(x)[:, self.merged_order]


class VisionEncoder(nn.Module):
    """The whole tower for one grid, for frames that arrive as images (codec jpeg): pixel patches
    [batch, patches, channels*temporal*patch*patch] in processor order, as Qwen's image processor flattens
    them, -> merged embeddings in processor order. It is the tail from the pixel patches (L = -1)."""

    def __init__(self, tower: VisionTower, grid: Grid) -> None:
        super().__init__()
        self.config = tower.config
        self.tail = VisionTail(tower, -1, grid)
        self.patches = grid.patches
        self.patch_dim = self.tail.patch_dim

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.tail(pixel_values)


def tail_file_name(split_layer: int, grid: Grid) -> str:
    return f"vision_tail.L{split_layer}.{grid.t}x{grid.h}x{grid.w}.onnx"


def encoder_file_name(grid: Grid) -> str:
    return f"vision_encoder.{grid.t}x{grid.h}x{grid.w}.onnx"


def export_tail(tail: VisionTail, path: Path, opset: int = 17, external_data: bool | None = None) -> None:
    """Writes the graph; weights over ~1.8 GB (or with external_data) go to `<name>.data` beside it."""
    export_vision_graph(tail, torch.zeros(1, tail.patches, tail.feature_width), "features", path, opset, external_data)


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
        "formatVersion": TAIL_FORMAT_VERSION,
        "splitLayer": split_layer,
        "splitLayerConvention": SPLIT_LAYER_CONVENTION,
        "firstBlock": tail.first_block,
        "patchEmbedding": tail.patch_embed is not None,
        "gridThw": grid.as_list(),
        "hiddenSize": tail.config.hidden_size,
        "featureWidth": tail.feature_width,
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
