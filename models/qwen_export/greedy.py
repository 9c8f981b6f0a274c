"""Greedy generation in PyTorch with a cache, the reference the Node answerer is checked against."""
from __future__ import annotations

import torch

from .rope_index import rope_index
from .text_decoder import LanguageModel


@torch.no_grad()
def greedy_generate(model: LanguageModel, input_ids: list[int], image_embeds: torch.Tensor, image_token_id: int,
                    grid_thw: list[int], merge: int, max_new_tokens: int, stop_ids: set[int]) -> list[int]:
    c = model.config
    embeds = model.embed_tokens(torch.tensor([input_ids]))
    positions = [i for i, token in enumerate(input_ids) if token == image_token_id]
    embeds[0, positions] = image_embeds
    position_ids = rope_index(input_ids, image_token_id, grid_thw, merge).unsqueeze(1)
    delta = int(position_ids.max()) + 1 - len(input_ids)
    past = [torch.zeros(1, c.num_key_value_heads, 0, c.head_dim) for _ in range(2 * c.num_hidden_layers)]
    mask = torch.ones(1, len(input_ids), dtype=torch.int64)
    produced: list[int] = []
    while len(produced) < max_new_tokens:
        logits, *past = model(embeds, mask, position_ids, *past)
        token = int(logits[0, -1].argmax())
        produced.append(token)
        if token in stop_ids:
            break
        length = mask.shape[1]
        embeds = model.embed_tokens(torch.tensor([[token]]))
        mask = torch.ones(1, length + 1, dtype=torch.int64)
        position_ids = torch.full((3, 1, 1), length + delta, dtype=torch.int64)
    return produced
