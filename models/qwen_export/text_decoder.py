"""Qwen2.5-VL's language model in PyTorch (Qwen2 blocks with multimodal rotary positions), exported with
the contract transformers.js 4.x runs for `qwen2_5_vl`:

  onnx/embed_tokens.onnx          input_ids [batch, seq] int64 -> inputs_embeds [batch, seq, hidden]
  onnx/decoder_model_merged.onnx  inputs_embeds, attention_mask [batch, past + seq] int64,
                                  position_ids [3, batch, seq] int64, past_key_values.{i}.key/value
                                  [batch, kv_heads, past, head_dim] -> logits [batch, seq, vocab],
                                  present.{i}.key/value
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .onnx_files import export_and_place
from .safetensors_io import read_folder
from .text_config import TextConfig, text_config
from .vision_config import QwenFolderError
from .vision_tower import RMSNorm, rotate_half


def multimodal_cos_sin(position_ids: torch.Tensor, config: TextConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin [batch, seq, head_dim]: each rotary band takes its angle from the temporal, height or
    width position, in mrope_section proportions, the same split repeated for both halves."""
    dim = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    angles = position_ids.float().unsqueeze(-1) * inv_freq  # [3, batch, seq, dim/2]
    doubled = torch.cat([angles, angles], dim=-1)
    pieces, start = [], 0
    for band, size in enumerate(list(config.mrope_section) * 2):
        pieces.append(doubled[band % 3, :, :, start:start + size])
        start += size
    chosen = torch.cat(pieces, dim=-1)
    return chosen.cos(), chosen.sin()


class SelfAttention(nn.Module):
    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.config = config
        hd = config.head_dim
        self.q_proj = nn.Linear(config.hidden_size, config.num_attention_heads * hd)
        self.k_proj = nn.Linear(config.hidden_size, config.num_key_value_heads * hd)
        self.v_proj = nn.Linear(config.hidden_size, config.num_key_value_heads * hd)
        self.o_proj = nn.Linear(config.num_attention_heads * hd, config.hidden_size, bias=False)

    def forward(self, x, mask, cos, sin, past_key, past_value):
        c = self.config
        batch, seq, _ = x.shape
        q = self.q_proj(x).reshape(batch, seq, c.num_attention_heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(x).reshape(batch, seq, c.num_key_value_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).reshape(batch, seq, c.num_key_value_heads, c.head_dim).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        key = torch.cat([past_key, k], dim=2)
        value = torch.cat([past_value, v], dim=2)
        scores = torch.matmul(q, self.share_heads(key).transpose(-1, -2)) / (c.head_dim ** 0.5) + mask
        out = torch.matmul(torch.softmax(scores, dim=-1), self.share_heads(value))
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, -1)), key, value


    def share_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, kv_heads, len, dim] -> [batch, heads, len, dim]: each key/value head serves a group of query heads."""
        c = self.config
        groups = c.num_attention_heads // c.num_key_value_heads
        batch, _, length, dim = x.shape
        return x.unsqueeze(2).expand(batch, c.num_key_value_heads, groups, length, dim).reshape(batch, c.num_attention_heads, length, dim)


class DecoderLayer(nn.Module):
    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = SelfAttention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = nn.Module()
        self.mlp.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.mlp.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.mlp.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x, mask, cos, sin, past_key, past_value):
        attended, key, value = self.self_attn(self.input_layernorm(x), mask, cos, sin, past_key, past_value)
        x = x + attended
        h = self.post_attention_layernorm(x)
        x = x + self.mlp.down_proj(nn.functional.silu(self.mlp.gate_proj(h)) * self.mlp.up_proj(h))
        return x, key, value


class LanguageModel(nn.Module):
    """Weights named as in the checkpoint under `model.` (plus `lm_head.weight` unless tied)."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, inputs_embeds, attention_mask, position_ids, *past):
        hidden, *presents = self.hidden_states(inputs_embeds, attention_mask, position_ids, *past)
        return (self.lm_head(hidden), *presents)

    def hidden_states(self, inputs_embeds, attention_mask, position_ids, *past):
        """Final-norm hidden states and the new key/value caches."""
        batch, seq, _ = inputs_embeds.shape
        total = attention_mask.shape[1]
        query_positions = torch.arange(seq).unsqueeze(1) + (total - seq)
        causal = torch.arange(total).unsqueeze(0) <= query_positions  # [seq, total]
        allowed = causal.unsqueeze(0) & attention_mask.bool().unsqueeze(1)  # [batch, seq, total]
        mask = torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min).unsqueeze(1)
        cos, sin = multimodal_cos_sin(position_ids, self.config)
        x, presents = inputs_embeds, []
        for number, layer in enumerate(self.layers):
            x, key, value = layer(x, mask, cos, sin, past[2 * number], past[2 * number + 1])
            presents += [key, value]
        return (self.norm(x), *presents)


class EmbedTokens(nn.Module):
    def __init__(self, embedding: nn.Embedding, storage: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("table", embedding.weight.detach().to(storage))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.table[input_ids].float()


def load_language_model(folder: Path) -> LanguageModel:
    config = text_config(folder)
    body = {name: tensor for name, tensor in read_folder(folder, ("model.language_model.", "model.")).items()
            if not name.startswith("visual.")}
    head = read_folder(folder, ("lm_head.",))
    if "weight" in head:
        body["lm_head.weight"] = head["weight"]
    elif config.tie_word_embeddings and "embed_tokens.weight" in body:
        body["lm_head.weight"] = body["embed_tokens.weight"]
    model = LanguageModel(config)
    expected = set(model.state_dict())
    missing, extra = sorted(expected - set(body)), sorted(set(body) - expected)
    if missing or extra:
        raise QwenFolderError(f"{folder}: language-model weights do not match config.json: missing {missing[:8]}, unexpected {extra[:8]}")
    model.load_state_dict(body)
    return model.eval()


def export_language_model(model: LanguageModel, onnx_dir: Path, storage: torch.dtype = torch.float32, opset: int = 17) -> list[Path]:
    """Writes embed_tokens.onnx and decoder_model_merged.onnx; big weights go to `<file>_data` beside them
    (the suffix transformers.js looks for)."""
    c = model.config
    embed_path, decoder_path = onnx_dir / "embed_tokens.onnx", onnx_dir / "decoder_model_merged.onnx"

    def export_embed(path: Path) -> None:
        with torch.no_grad():
            torch.onnx.export(
                EmbedTokens(model.embed_tokens, storage), (torch.zeros(1, 3, dtype=torch.int64),), str(path),
                opset_version=opset, input_names=["input_ids"], output_names=["inputs_embeds"],
                dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"}, "inputs_embeds": {0: "batch_size", 1: "sequence_length"}},
            )

    past_names = [f"past_key_values.{i}.{kind}" for i in range(c.num_hidden_layers) for kind in ("key", "value")]
    present_names = [f"present.{i}.{kind}" for i in range(c.num_hidden_layers) for kind in ("key", "value")]

    def export_decoder(path: Path) -> None:
        batch, seq, past = 1, 3, 2
        example = (
            torch.zeros(batch, seq, c.hidden_size), torch.ones(batch, past + seq, dtype=torch.int64),
            torch.zeros(3, batch, seq, dtype=torch.int64),
            *[torch.zeros(batch, c.num_key_value_heads, past, c.head_dim) for _ in past_names],
        )
        dynamic = {"inputs_embeds": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
                   "position_ids": {1: "batch_size", 2: "sequence_length"}, "logits": {0: "batch_size", 1: "sequence_length"}}
        # transformers.js sizes the empty first cache from these names: batch_size is resolved, others are 0.
        dynamic.update({name: {0: "batch_size", 2: "past_sequence_length"} for name in past_names})
        dynamic.update({name: {0: "batch_size", 2: "total_sequence_length"} for name in present_names})
        graph = _HeadInStorage(model, storage) if storage != torch.float32 else model
        with torch.no_grad():
            torch.onnx.export(
                graph, example, str(path), opset_version=opset,
                input_names=["inputs_embeds", "attention_mask", "position_ids", *past_names],
                output_names=["logits", *present_names], dynamic_axes=dynamic,
                do_constant_folding=storage == torch.float32,  # folding would widen the stored head back to fp32
            )

    export_and_place(export_embed, embed_path, "_data")
    export_and_place(export_decoder, decoder_path, "_data")
    return [embed_path, decoder_path]


class _HeadInStorage(nn.Module):
    """The decoder with lm_head's weight stored in a narrower type and widened in the graph."""

    def __init__(self, model: LanguageModel, storage: torch.dtype) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("head", model.lm_head.weight.detach().to(storage))

    def forward(self, inputs_embeds, attention_mask, position_ids, *past):
        hidden, *presents = self.model.hidden_states(inputs_embeds, attention_mask, position_ids, *past)
        return (torch.matmul(hidden, self.head.float().t()), *presents)
