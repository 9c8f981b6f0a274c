"""The seed's losses (scripts/train_gan.py).

warmup     MSE(output, teacher) + 0.1 * MSE(bottleneck reconstruction, projector tokens detached)
GAN, D     BCE-with-logits: real teacher features -> 1, generated (detached) -> 0
GAN, G     10 * MSE(output, teacher) + 0.1 * BCE(D(output), 1) + 0.1 * reconstruction
Validation: mean over tokens of the cosine between output and teacher token vectors.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

RECON_WEIGHT = 0.1
GAN_MSE_WEIGHT = 10.0
GAN_ADV_WEIGHT = 0.1


def reconstruction(recon: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(recon, projected.detach())


def warmup_loss(output: torch.Tensor, teacher: torch.Tensor, recon: torch.Tensor, projected: torch.Tensor) -> dict[str, torch.Tensor]:
    mse = F.mse_loss(output, teacher)
    rec = reconstruction(recon, projected)
    return {"loss": mse + RECON_WEIGHT * rec, "mse": mse, "recon": rec}


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(output: torch.Tensor, teacher: torch.Tensor, recon: torch.Tensor, projected: torch.Tensor,
                   fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    mse = F.mse_loss(output, teacher)
    rec = reconstruction(recon, projected)
    adv = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    return {"loss": GAN_MSE_WEIGHT * mse + GAN_ADV_WEIGHT * adv + RECON_WEIGHT * rec, "mse": mse, "recon": rec, "adv": adv}


def token_cosine(output: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Per-sample mean token cosine [B]."""
    return F.cosine_similarity(output, teacher, dim=-1).mean(dim=-1)
