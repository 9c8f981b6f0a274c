"""Training checkpoints in the seed's layout, and the split into the files the board and the cloud load.

A training checkpoint (best.pt / latest.pt) holds what the seed's does: epoch, the state dicts (student,
projector, bottleneck with both halves as `encoder.*` / `decoder.*`, upsampler, discriminator in the GAN
phase), optimiser and scheduler states, metrics and `args` (an argparse.Namespace of plain values: the
architecture fields export.py requires, and the training settings), plus the step and RNG state a resume
needs. `models/export.py --checkpoint best.pt` reads it as it reads the seed's; `split` writes
edge_weights.pth / cloud_weights.pth as the seed's scripts/split_checkpoint.py does.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch

from splitoculo_export.architecture import cloud_arch_from_args, edge_arch_from_args
from splitoculo_export.checkpoints import load_strict
from splitoculo_export.cloud_net import CloudNetwork
from splitoculo_export.edge_net import EdgeNetwork

EDGE_KEYS = ("student_model", "student_layer", "projector_type", "projector_hidden", "transmission_tokens",
             "target_hidden_size", "bottleneck_dim", "bottleneck_method", "image_size")
CLOUD_KEYS = ("upsampler_type", "transformer_layers", "initial_upsample", "transmission_tokens", "target_tokens",
              "target_hidden_size", "bottleneck_dim", "bottleneck_method", "image_size", "transformer_heads")


class TrainingCheckpointError(ValueError):
    """A training checkpoint is missing a section or does not fit the networks."""


def plain_args(values: dict[str, Any]) -> argparse.Namespace:
    """args as the seed stores them, with only plain values (paths as strings) so that a loader that
    refuses arbitrary pickled objects (export.py) accepts it."""
    return argparse.Namespace(**{k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()})


def _cpu(state: dict[str, Any]) -> dict[str, Any]:
    """A state dict on the CPU: checkpoints from a CUDA run load anywhere (export.py reads them on the CPU)."""
    return {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in state.items()}


def save_training(path: Path, *, edge: EdgeNetwork, cloud: CloudNetwork, args: dict[str, Any], epoch: int, step: int,
                  optimisers: dict[str, Any], schedulers: dict[str, Any], metrics: dict[str, Any],
                  discriminator: torch.nn.Module | None = None) -> None:
    data = {
        "epoch": epoch,
        "step": step,
        "student_state_dict": _cpu(edge.student.state_dict()),
        "projector_state_dict": _cpu(edge.projector.state_dict()),
        "bottleneck_state_dict": _cpu({**edge.bottleneck.state_dict(), **cloud.bottleneck.state_dict()}),
        "upsampler_state_dict": _cpu(cloud.upsampler.state_dict()),
        "optimizer_states": {name: opt.state_dict() for name, opt in optimisers.items()},
        "scheduler_states": {name: s.state_dict() for name, s in schedulers.items()},
        "metrics": metrics,
        "rng_state": torch.get_rng_state(),
        "args": plain_args(args),
    }
    if discriminator is not None:
        data["discriminator_state_dict"] = _cpu(discriminator.state_dict())
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)  # a crash mid-save leaves the previous checkpoint whole


def load_training(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise TrainingCheckpointError(f"{path}: no such checkpoint")
    data = torch.load(path, map_location="cpu")
    for key in ("student_state_dict", "projector_state_dict", "bottleneck_state_dict", "upsampler_state_dict", "args"):
        if key not in data:
            raise TrainingCheckpointError(f"{path}: has no '{key}'; expected a checkpoint written by train.py or the seed's train_gan.py")
    return data


def networks_from(data: dict[str, Any], source: str) -> tuple[EdgeNetwork, CloudNetwork]:
    args = vars(data["args"]) if isinstance(data["args"], argparse.Namespace) else dict(data["args"])
    edge, cloud = EdgeNetwork(edge_arch_from_args(args, source)), CloudNetwork(cloud_arch_from_args(args, source))
    load_strict(edge.student, data["student_state_dict"], f"{source} student_state_dict")
    load_strict(edge.projector, data["projector_state_dict"], f"{source} projector_state_dict")
    halves = data["bottleneck_state_dict"]
    load_strict(edge.bottleneck, {k: v for k, v in halves.items() if k.startswith("encoder.")}, f"{source} bottleneck encoder")
    load_strict(cloud.bottleneck, {k: v for k, v in halves.items() if k.startswith("decoder.")}, f"{source} bottleneck decoder")
    load_strict(cloud.upsampler, data["upsampler_state_dict"], f"{source} upsampler_state_dict")
    return edge, cloud


def split(path: Path, out: Path) -> tuple[Path, Path]:
    """edge_weights.pth and cloud_weights.pth from a training checkpoint (the seed's split_checkpoint.py)."""
    data = load_training(path)
    args = vars(data["args"]) if isinstance(data["args"], argparse.Namespace) else dict(data["args"])
    networks_from(data, str(path))  # refuse a checkpoint that would not load before writing anything
    halves = data["bottleneck_state_dict"]
    out.mkdir(parents=True, exist_ok=True)
    edge_path, cloud_path = out / "edge_weights.pth", out / "cloud_weights.pth"
    torch.save({
        "student_state_dict": data["student_state_dict"],
        "projector_state_dict": data["projector_state_dict"],
        "bottleneck_encoder_state_dict": {k: v for k, v in halves.items() if k.startswith("encoder.")},
        "args": plain_args(args),
    }, edge_path)
    cloud = {
        "upsampler_state_dict": data["upsampler_state_dict"],
        "bottleneck_decoder_state_dict": {k: v for k, v in halves.items() if k.startswith("decoder.")},
        "args": plain_args(args),
    }
    if "discriminator_state_dict" in data:
        cloud["discriminator_state_dict"] = data["discriminator_state_dict"]
    torch.save(cloud, cloud_path)
    return edge_path, cloud_path
