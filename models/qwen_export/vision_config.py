"""The vision_config section of a Hugging Face Qwen2.5-VL config.json."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


class QwenFolderError(Exception):
    """A Qwen2.5-VL model folder is missing a file or holds something unexpected."""


@dataclass(frozen=True)
class VisionConfig:
    depth: int = 32
    hidden_size: int = 1280
    intermediate_size: int = 3420
    num_heads: int = 16
    in_channels: int = 3
    patch_size: int = 14
    spatial_merge_size: int = 2
    temporal_patch_size: int = 2
    window_size: int = 112
    fullatt_block_indexes: tuple[int, ...] = field(default=(7, 15, 23, 31))
    out_hidden_size: int = 2048
    rms_norm_eps: float = 1e-6

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def merge_unit(self) -> int:
        return self.spatial_merge_size ** 2

    def to_json(self) -> dict:
        data = asdict(self)
        data["fullatt_block_indexes"] = list(self.fullatt_block_indexes)
        return data


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise QwenFolderError(f"{path}: not found; expected the config.json of a Qwen2.5-VL model folder") from None
    except json.JSONDecodeError as error:
        raise QwenFolderError(f"{path}: not valid JSON ({error})") from None
    if config.get("model_type") != "qwen2_5_vl":
        raise QwenFolderError(f"{path}: model_type is {config.get('model_type')!r}, expected 'qwen2_5_vl'")
    return config


def vision_config(folder: Path) -> VisionConfig:
    raw = read_config(folder).get("vision_config")
    if not isinstance(raw, dict):
        raise QwenFolderError(f"{folder / 'config.json'}: vision_config is missing")
    if raw.get("hidden_act", "silu") != "silu":
        raise QwenFolderError(f"{folder / 'config.json'}: vision_config.hidden_act is {raw['hidden_act']!r}, expected 'silu'")
    defaults = VisionConfig()
    values = {name: raw.get(name, getattr(defaults, name)) for name in defaults.to_json()}
    values["in_channels"] = raw.get("in_chans", raw.get("in_channels", defaults.in_channels))
    values["fullatt_block_indexes"] = tuple(values["fullatt_block_indexes"])
    return VisionConfig(**values)
