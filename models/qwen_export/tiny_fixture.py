"""A random-weight Qwen2.5-VL folder with the real file layout and tensor contract, small enough to commit.

The real vocabulary and tokenizer, narrow widths everywhere else. Its ONNX files are produced by the same
commands a user runs on real weights (models/qwen.py tail / language-model), so the fixture exercises them.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from torch import nn

from .chat_template import QWEN2_5_VL_CHAT_TEMPLATE
from .safetensors_io import write_file
from .text_config import TextConfig
from .text_decoder import LanguageModel
from .vision_config import VisionConfig
from .vision_tower import VisionTower

IMAGE_TOKEN_ID, VIDEO_TOKEN_ID = 151655, 151656
VISION_START_ID, VISION_END_ID = 151652, 151653
IM_END_ID, END_OF_TEXT_ID = 151645, 151643

# Vision width 64 matches the tiny SplitOculo models (models/tiny: 256 tokens of 64); eight blocks with
# full attention at 3 and 7 keep the real alternation of window and full attention.
TINY_VISION = VisionConfig(depth=8, hidden_size=64, intermediate_size=128, num_heads=4,
                           fullatt_block_indexes=(3, 7), out_hidden_size=16)
TINY_TEXT = TextConfig(vocab_size=151936, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, rope_theta=1_000_000.0,
                       mrope_section=(2, 1, 1), rms_norm_eps=1e-6, tie_word_embeddings=True)


def random_weights(module: nn.Module, generator: torch.Generator, std: float) -> None:
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or "layernorm" in name or name.endswith(("norm.weight", "ln_q.weight")):
                continue
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)


def config_json(vision: VisionConfig, text: TextConfig) -> dict:
    text_section = {
        "model_type": "qwen2_5_vl_text", "vocab_size": text.vocab_size, "hidden_size": text.hidden_size,
        "intermediate_size": text.intermediate_size, "num_hidden_layers": text.num_hidden_layers,
        "num_attention_heads": text.num_attention_heads, "num_key_value_heads": text.num_key_value_heads,
        "head_dim": text.head_dim, "rope_theta": text.rope_theta, "rms_norm_eps": text.rms_norm_eps,
        "rope_scaling": {"type": "mrope", "mrope_section": list(text.mrope_section)},
        "tie_word_embeddings": text.tie_word_embeddings, "hidden_act": "silu", "max_position_embeddings": 128000,
        "bos_token_id": END_OF_TEXT_ID, "eos_token_id": IM_END_ID,
    }
    vision_section = vision.to_json()
    vision_section.pop("rms_norm_eps")
    vision_section.update({"in_chans": vision_section.pop("in_channels"), "hidden_act": "silu", "tokens_per_second": 2})
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
        "image_token_id": IMAGE_TOKEN_ID, "video_token_id": VIDEO_TOKEN_ID,
        "vision_start_token_id": VISION_START_ID, "vision_end_token_id": VISION_END_ID,
        "torch_dtype": "bfloat16", **{k: v for k, v in text_section.items() if k != "model_type"},
        "text_config": text_section, "vision_config": vision_section,
        "_splitoculo": "random weights: a stand-in with the real layout for tests and the demo; its answers are noise",
    }


def write_tiny_qwen(folder: Path, tokenizer_dir: Path, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    tower, language = VisionTower(TINY_VISION), LanguageModel(TINY_TEXT)
    random_weights(tower, generator, 0.1)
    random_weights(language, generator, 0.5)
    weights = {f"visual.{k}": v for k, v in tower.state_dict().items()}
    weights.update({f"model.{k}": v for k, v in language.state_dict().items() if k != "lm_head.weight"})
    write_file(folder / "model.safetensors", weights, torch.bfloat16)
    (folder / "config.json").write_text(json.dumps(config_json(TINY_VISION, TINY_TEXT), indent=2) + "\n")
    (folder / "generation_config.json").write_text(json.dumps({
        "bos_token_id": END_OF_TEXT_ID, "pad_token_id": END_OF_TEXT_ID, "eos_token_id": [IM_END_ID, END_OF_TEXT_ID],
        "do_sample": False,
    }, indent=2) + "\n")
    shutil.copyfile(tokenizer_dir / "tokenizer.json", folder / "tokenizer.json")
    tokenizer_config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())
    tokenizer_config["chat_template"] = QWEN2_5_VL_CHAT_TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n")
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": QWEN2_5_VL_CHAT_TEMPLATE}, indent=2) + "\n")


def write_random_vision(folder: Path, seed: int) -> None:
    """Qwen2.5-VL-3B's vision tower at full size with random weights and no language model: what the benchmarks
    time the tail and the whole tower with where the real weights cannot be had. Its outputs mean nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    vision = VisionConfig()  # the defaults are Qwen2.5-VL-3B's
    text = TextConfig(vocab_size=151936, hidden_size=vision.out_hidden_size, intermediate_size=11008, num_hidden_layers=36,
                      num_attention_heads=16, num_key_value_heads=2, rope_theta=1_000_000.0, mrope_section=(16, 24, 24),
                      rms_norm_eps=1e-6, tie_word_embeddings=True)
    generator = torch.Generator().manual_seed(seed)
    tower = VisionTower(vision)
    random_weights(tower, generator, 0.02)
    write_file(folder / "model.safetensors", {f"visual.{k}": v for k, v in tower.state_dict().items()}, torch.bfloat16)
    config = config_json(vision, text)
    config["_splitoculo"] = "random weights, vision tower only: for timing Qwen2.5-VL-3B's vision path; no language model"
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
