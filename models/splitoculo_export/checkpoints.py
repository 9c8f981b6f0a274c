"""Reads the seed's checkpoint files (and writes them, for tests) with strict keys.

Layouts (seed `scripts/split_checkpoint.py`):
  edge_weights.pth   student_state_dict, projector_state_dict,
                     bottleneck_encoder_state_dict (encoder.*), args
  cloud_weights.pth  upsampler_state_dict, bottleneck_decoder_state_dict (decoder.*),
                     optional discriminator_state_dict (training only), args
  unsplit            the union, with bottleneck_state_dict holding encoder.* and decoder.*
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .architecture import CloudArch, EdgeArch, cloud_arch_from_args, cloud_args, edge_arch_from_args, edge_args
from .cloud_net import CloudNetwork
from .edge_net import EdgeNetwork
from .safe_load import ForbiddenGlobal, TorchScriptArchive, load_checkpoint_data


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not match the network."""


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's top-level dict, unpickled without running code (safe_load.py)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = load_checkpoint_data(path)
    except ForbiddenGlobal as refused:
        raise CheckpointError(
            f"{path}: refused without loading it: its pickle names {refused.qualified_name}, which is not a tensor, "
            "a plain container, OrderedDict or the args Namespace (loading it could run code)") from None
    except TorchScriptArchive as error:
        raise CheckpointError(f"{path}: {error}") from None
    except Exception as error:  # torch raises many types for a damaged pickle
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({error})") from error
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of state dicts, got {type(data).__name__}")
    return data


def _args_of(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    args = data.get("args")
    if isinstance(args, argparse.Namespace):
        return vars(args)
    if isinstance(args, Mapping):
        return dict(args)
    raise CheckpointError(f"{path}: has no 'args' (a dict or argparse.Namespace of the training arguments)")


def _section(data: Mapping[str, Any], key: str, path: Path) -> Mapping[str, torch.Tensor]:
    section = data.get(key)
    if not isinstance(section, Mapping):
        present = ", ".join(sorted(str(k) for k in data)) or "none"
        raise CheckpointError(f"{path}: has no '{key}' (sections present: {present})")
    return section


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Load `state` into `module`, refusing any missing, extra or misshapen key, all listed."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    misshapen = [
        f"{key} {list(state[key].shape)} (expected {list(expected[key].shape)})"
        for key in sorted(set(expected) & set(state))
        if tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected keys: {', '.join(extra)}")
    if misshapen:
        problems.append(f"wrong shapes: {', '.join(misshapen)}")
    if problems:
        raise CheckpointError(f"{what}: " + "; ".join(problems))
    refuse_non_finite(state, what)
    module.load_state_dict(state, strict=True)


def refuse_non_finite(state: Mapping[str, torch.Tensor], what: str) -> None:
    """A NaN or infinite weight makes every output NaN: refused with the tensor's name, before any file is
    written (an export would otherwise fail in the parity check with no hint of where it came from)."""
    bad = []
    for key in sorted(state):
        tensor = state[key]
        if tensor.is_floating_point() or tensor.is_complex():
            count = int((~torch.isfinite(tensor)).sum())
            if count:
                bad.append(f"{key} ({count} of {tensor.numel()} values NaN or infinite)")
    if bad:
        raise CheckpointError(f"{what}: non-finite weights in {', '.join(bad[:8])}{' and more' if len(bad) > 8 else ''}; "
                              "the training diverged or the file is damaged")


def _split_bottleneck(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key: value for key, value in state.items() if key.startswith(prefix + ".")}


def edge_from_checkpoint(path: Path) -> EdgeNetwork:
    data = read_checkpoint(path)
    arch = edge_arch_from_args(_args_of(data, path), str(path))
    net = EdgeNetwork(arch)
    load_strict(net.student, _section(data, "student_state_dict", path), f"{path} student_state_dict")
    load_strict(net.projector, _section(data, "projector_state_dict", path), f"{path} projector_state_dict")
    if "bottleneck_encoder_state_dict" in data:
        encoder = _section(data, "bottleneck_encoder_state_dict", path)
    else:
        encoder = _split_bottleneck(_section(data, "bottleneck_state_dict", path), "encoder")
    load_strict(net.bottleneck, encoder, f"{path} bottleneck encoder")
    return net.eval()


def cloud_from_checkpoint(path: Path) -> CloudNetwork:
    data = read_checkpoint(path)
    arch = cloud_arch_from_args(_args_of(data, path), str(path))
    net = CloudNetwork(arch)
    load_strict(net.upsampler, _section(data, "upsampler_state_dict", path), f"{path} upsampler_state_dict")
    if "bottleneck_decoder_state_dict" in data:
        decoder = _section(data, "bottleneck_decoder_state_dict", path)
    else:
        decoder = _split_bottleneck(_section(data, "bottleneck_state_dict", path), "decoder")
    load_strict(net.bottleneck, decoder, f"{path} bottleneck decoder")
    return net.eval()


def save_edge_checkpoint(net: EdgeNetwork, path: Path) -> None:
    torch.save(
        {
            "student_state_dict": net.student.state_dict(),
            "projector_state_dict": net.projector.state_dict(),
            "bottleneck_encoder_state_dict": net.bottleneck.state_dict(),
            "args": argparse.Namespace(**edge_args(net.arch)),
        },
        path,
    )


def save_cloud_checkpoint(net: CloudNetwork, path: Path) -> None:
    torch.save(
        {
            "upsampler_state_dict": net.upsampler.state_dict(),
            "bottleneck_decoder_state_dict": net.bottleneck.state_dict(),
            "args": cloud_args(net.arch),
        },
        path,
    )


def save_unsplit_checkpoint(edge: EdgeNetwork, cloud: CloudNetwork, path: Path) -> None:
    torch.save(
        {
            "student_state_dict": edge.student.state_dict(),
            "projector_state_dict": edge.projector.state_dict(),
            "bottleneck_state_dict": {**edge.bottleneck.state_dict(), **cloud.bottleneck.state_dict()},
            "upsampler_state_dict": cloud.upsampler.state_dict(),
            "args": {**edge_args(edge.arch), **cloud_args(cloud.arch)},
        },
        path,
    )


def random_networks(edge_arch: EdgeArch, cloud_arch: CloudArch, seed: int) -> tuple[EdgeNetwork, CloudNetwork]:
    """Random weights from a seed, with non-trivial BatchNorm statistics so parity
    checks exercise every folded constant. Convolutions get variance-preserving
    (He) weights: PyTorch's default initialisation shrinks the signal at every
    layer until the tokens no longer depend on the image, and the stand-in
    models should at least tell images apart."""
    torch.manual_seed(seed)
    edge, cloud = EdgeNetwork(edge_arch), CloudNetwork(cloud_arch)
    for module in edge.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
    for net in (edge, cloud):
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.1, 0.1)
    return edge.eval(), cloud.eval()
