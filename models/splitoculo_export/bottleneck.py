"""The seed's DimensionBottleneck, split into its edge half and its cloud half.

Each half is a module holding one attribute (`encoder` or `decoder`), so its
state dict has exactly the seed's keys (`encoder.weight`, `decoder.0.bias`, ...).
"""
from __future__ import annotations

import torch
from torch import nn


class BottleneckEncoder(nn.Module):
    def __init__(self, method: str, width: int, dim: int):
        super().__init__()
        hidden = width // 2
        if method == "linear":
            self.encoder = nn.Linear(width, dim, bias=False)
        elif method == "mlp":
            self.encoder = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, dim))
        elif method == "autoencoder":
            self.encoder = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, dim))
        else:
            raise ValueError(f"bottleneck_method: unknown {method!r}")

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encoder(tokens)


class BottleneckDecoder(nn.Module):
    def __init__(self, method: str, width: int, dim: int):
        super().__init__()
        hidden = width // 2
        if method == "linear":
            self.decoder = nn.Linear(dim, width, bias=False)
        elif method == "mlp":
            self.decoder = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, width))
        elif method == "autoencoder":
            self.decoder = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, width), nn.LayerNorm(width))
        else:
            raise ValueError(f"bottleneck_method: unknown {method!r}")

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.decoder(tokens)


def make_encoder(method: str, width: int, dim: int) -> BottleneckEncoder:
    return BottleneckEncoder(method, width, dim)


def make_decoder(method: str, width: int, dim: int) -> BottleneckDecoder:
    return BottleneckDecoder(method, width, dim)
