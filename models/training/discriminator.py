"""The seed's FeatureDiscriminator (models/discriminator.py): spectral-norm Conv1d over tokens,
width -> 512 -> 256 -> 128 -> 1 with kernel 1 and LeakyReLU 0.2, averaged over the tokens into one logit."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm

WIDTHS = (512, 256, 128)


class FeatureDiscriminator(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = width
        for cout in WIDTHS:
            layers += [spectral_norm(nn.Conv1d(cin, cout, 1)), nn.LeakyReLU(0.2)]
            cin = cout
        layers.append(spectral_norm(nn.Conv1d(cin, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """[B, tokens, width] -> [B] logits."""
        return self.net(features.transpose(1, 2)).mean(dim=(1, 2))
