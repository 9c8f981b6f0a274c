"""The language-model half of a Hugging Face Qwen2.5-VL config.json (top level in older files,
`text_config` in newer ones)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .vision_config import QwenFolderError, read_config


@dataclass(frozen=True)
class TextConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    rope_theta: float
    mrope_section: tuple[int, int, int]
    rms_norm_eps: float
    tie_word_embeddings: bool

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_json(self) -> dict:
        data = asdict(self)
        data["mrope_section"] = list(self.mrope_section)
        return data


def text_config(folder: Path) -> TextConfig:
    raw = read_config(folder)
    section = {**raw, **raw.get("text_config", {})}
    where = folder / "config.json"
    rope = section.get("rope_scaling") or {}
    if "mrope_section" not in rope:
        raise QwenFolderError(f"{where}: rope_scaling.mrope_section is missing; expected the [t, h, w] split of the rotary dimensions")
    try:
        config = TextConfig(
            vocab_size=section["vocab_size"], hidden_size=section["hidden_size"],
            intermediate_size=section["intermediate_size"], num_hidden_layers=section["num_hidden_layers"],
            num_attention_heads=section["num_attention_heads"],
            num_key_value_heads=section.get("num_key_value_heads", section["num_attention_heads"]),
            rope_theta=float(section.get("rope_theta", 1_000_000.0)), mrope_section=tuple(rope["mrope_section"]),
            rms_norm_eps=float(section.get("rms_norm_eps", 1e-6)),
            tie_word_embeddings=bool(section.get("tie_word_embeddings", False)),
        )
    except KeyError as error:
        raise QwenFolderError(f"{where}: text setting {error.args[0]} is missing") from None
    if sum(config.mrope_section) * 2 != config.head_dim:
        raise QwenFolderError(f"{where}: mrope_section {list(config.mrope_section)} sums to {sum(config.mrope_section)}, expected head_dim / 2 = {config.head_dim // 2}")
    return config
