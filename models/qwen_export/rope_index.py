"""Multimodal rotary positions for a prompt holding one image (Qwen2.5-VL's get_rope_index rule).

Text before the image counts 0, 1, 2, ... on all three axes; the image's merged tokens take
(start, start + row, start + column) for temporal, height and width, with start the next text position;
text after the image continues from one past the largest position used so far.
"""
from __future__ import annotations

import torch


def rope_index(input_ids: list[int], image_token_id: int, grid_thw: list[int], merge: int) -> torch.Tensor:
    """position_ids [3, len(input_ids)] for a prompt with exactly one run of image tokens."""
    t, h, w = grid_thw[0], grid_thw[1] // merge, grid_thw[2] // merge
    first = input_ids.index(image_token_id)
    count = t * h * w
    if input_ids[first:first + count] != [image_token_id] * count or input_ids.count(image_token_id) != count:
        raise ValueError(f"expected one run of {count} image tokens")
    columns = []
    for position in range(first):
        columns.append((position, position, position))
    for frame in range(t):
        for row in range(h):
            for column in range(w):
                columns.append((first + frame, first + row, first + column))
    next_position = max(max(c) for c in columns) + 1
    for offset in range(len(input_ids) - first - count):
        p = next_position + offset
        columns.append((p, p, p))
    return torch.tensor(columns, dtype=torch.int64).t()
