"""The edge's uint8 quantisation of bottleneck tokens, in PyTorch (protocol/wire/quantise.ts, per-tensor).

Per frame: scale = (max - min) / 255, zeroPoint = -min / scale (both float32, the zero point not
rounded), q = clip(round(x / scale + zeroPoint), 0, 255), x' = (q - zeroPoint) * scale; a constant
tensor gets scale 1. Training through it (`--quant-noise`):
  ste      the forward pass sees x' exactly; the gradient passes straight through (d x'/d x = 1)
  uniform  x + u * scale with u ~ U(-1/2, 1/2) per value: the rounding error's distribution at the
           frame's own step, differentiable everywhere
scale is the per-frame step and carries no gradient in either mode (the wire sends it as a constant).
"""
from __future__ import annotations

import torch

MODES = ("none", "ste", "uniform")


def frame_step(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame (scale, zero point) of [B, tokens, width], shaped [B,1,1], detached."""
    flat = tokens.detach().flatten(1)
    low, high = flat.min(dim=1).values, flat.max(dim=1).values
    scale = (high - low) / 255.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    zero_point = -low / scale
    return scale.view(-1, 1, 1), zero_point.view(-1, 1, 1)


def quantise(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 codes and the per-frame parameters, as the daemon sends them."""
    scale, zero_point = frame_step(tokens)
    codes = torch.clamp(torch.round(tokens.detach() / scale + zero_point), 0, 255).to(torch.uint8)
    return codes, scale, zero_point


def dequantise(codes: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    return (codes.float() - zero_point) * scale


def round_trip(tokens: torch.Tensor) -> torch.Tensor:
    """What the cloud receives for these tokens (no gradient)."""
    return dequantise(*quantise(tokens))


def simulate(tokens: torch.Tensor, mode: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Tokens as training should see them under `mode` (see the module docstring)."""
    if mode == "none":
        return tokens
    if mode == "ste":
        return tokens + (round_trip(tokens) - tokens).detach()
    if mode == "uniform":
        scale, _ = frame_step(tokens)
        noise = torch.rand(tokens.shape, generator=generator, device=tokens.device) - 0.5
        return tokens + noise * scale
    raise ValueError(f"quant noise: expected one of {', '.join(MODES)}, got {mode!r}")
