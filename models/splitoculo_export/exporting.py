"""ONNX export, ONNX Runtime parity check and manifest writing."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from .architecture import describe
from .cloud_net import CloudNetwork
from .edge_net import EdgeNetwork

OPSET = 17
REPO = Path(__file__).resolve().parents[2]

# Statistics of Qwen2.5-VL-3B vision hidden states at the seed's split layer L, i.e. after L blocks
# (seed-facts.md; L=0 is the patch embedding's output): the seed rescales the cloud output to them at
# inference. Keyed by the seed's L, the same L the manifest carries. L=-1 (pixel patches) has none.
SEED_RESCALE = {4: (-0.022, 0.847), 8: (-0.021, 1.066), 0: (-0.000, 0.362)}
# The manifest's statement of how splitLayer counts (protocol/manifest/schema.ts, qwen_export/vision_tail.py).
SPLIT_LAYER_CONVENTION = "after-L-blocks"
# Values in one of Qwen2.5-VL's pixel patches (channels 3 x temporal 2 x 14 x 14): the features at L = -1.
PIXEL_PATCH_VALUES = 3 * 2 * 14 * 14
# The Node.js `make deps` pins; the parity check must run on the runtime the daemon and worker ship with.
PINNED_NODE = REPO / ".cache" / "node" / "bin" / "node"
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class ExportError(RuntimeError):
    """Export or the ONNX Runtime parity check failed."""


@dataclass(frozen=True)
class Parity:
    max_abs_error: float
    cosine: float


def export_onnx(net: torch.nn.Module, example: torch.Tensor, path: Path, input_name: str, output_name: str) -> None:
    net.eval()
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer's notes on constant shapes are expected: every shape here is fixed
        # except the batch axis, which stays dynamic.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (example,),
            str(path),
            opset_version=OPSET,
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            do_constant_folding=True,
        )
    with torch.no_grad():
        output_shape = list(net(example).shape[1:])
    _name_output_dims(path, output_name, output_shape)
    onnx.checker.check_model(str(path))


def _name_output_dims(path: Path, output_name: str, fixed_dims: list[int]) -> None:
    """Record the output's fixed dimensions in the graph; the tracer leaves
    generated names there, and the manifest copies the graph's signature."""
    model = onnx.load(str(path))
    for output in model.graph.output:
        if output.name == output_name:
            dims = output.type.tensor_type.shape.dim
            for dim, size in zip(list(dims)[1:], fixed_dims):
                dim.Clear()
                dim.dim_value = size
    onnx.save(model, str(path))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_id(split_layer: int, file_hashes: dict[str, str]) -> str:
    """16-byte id of a model pair: must match protocol/manifest/model-id.ts."""
    lines = ["splitoculo-model/1", f"splitLayer={split_layer}"]
    lines += [f"{role}={file_hashes[role]}" for role in sorted(file_hashes)]
    return hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()[:32]


def io_signature(path: Path) -> dict[str, list[dict[str, Any]]]:
    graph = onnx.load(str(path), load_external_data=False).graph
    initialisers = {init.name for init in graph.initializer}

    def describe_value(value: onnx.ValueInfoProto) -> dict[str, Any]:
        tensor = value.type.tensor_type
        shape = [dim.dim_param if dim.dim_param else dim.dim_value for dim in tensor.shape.dim]
        dtype = np.dtype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[tensor.elem_type]).name
        return {"name": value.name, "dtype": dtype, "shape": shape}

    return {
        "inputs": [describe_value(v) for v in graph.input if v.name not in initialisers],
        "outputs": [describe_value(v) for v in graph.output],
    }


def check_parity(net: torch.nn.Module, example: torch.Tensor, onnx_path: Path) -> Parity:
    """Run the same input through PyTorch and through onnxruntime-node (the runtime
    the daemon and worker use) and compare."""
    if not PINNED_NODE.is_file():
        raise ExportError(f"the parity check runs on the project's pinned Node.js, not found at {PINNED_NODE}: "
                          "run `make deps` (or skip the check with --skip-parity)")
    with torch.no_grad():
        expected = net(example).numpy().astype("<f4")
    with tempfile.TemporaryDirectory() as tmp:
        input_file, expected_file = Path(tmp, "input.f32"), Path(tmp, "expected.f32")
        example.numpy().astype("<f4").tofile(input_file)
        expected.tofile(expected_file)
        command = [
            str(PINNED_NODE), str(REPO / "models" / "parity.ts"),
            "--model", str(onnx_path),
            "--input", str(input_file), "--input-shape", ",".join(map(str, example.shape)),
            "--expected", str(expected_file),
        ]
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    if result.returncode != 0:
        raise ExportError(f"parity check of {onnx_path.name} failed: {result.stderr.strip() or result.stdout.strip()}")
    report = json.loads(result.stdout)
    if report["maxAbsError"] is None or report["cosine"] is None:  # JSON has no NaN: it arrives as null
        raise ExportError(f"parity check of {onnx_path.name}: the outputs are not finite (NaN or infinite values)")
    return Parity(report["maxAbsError"], report["cosine"])


def build_manifest(
    *,
    name: str,
    split_layer: int,
    rescale: tuple[float, float] | None,
    edge: EdgeNetwork,
    cloud: CloudNetwork,
    files: dict[str, Path],
    source: dict[str, Any],
) -> dict[str, Any]:
    hashes = {role: sha256_file(path) for role, path in files.items()}
    entries = {
        role: {"path": path.name, "sha256": hashes[role], "bytes": path.stat().st_size, **io_signature(path)}
        for role, path in files.items()
    }
    return {
        "format": "splitoculo-manifest",
        "formatVersion": 1,
        "modelId": model_id(split_layer, hashes),
        "name": name,
        "splitLayer": split_layer,
        "splitLayerConvention": SPLIT_LAYER_CONVENTION,
        "preprocess": {
            "colorSpace": "srgb",
            "resize": {"shortSide": edge.arch.image_size, "kernel": "bicubic"},
            "crop": {"mode": "center", "width": edge.arch.image_size, "height": edge.arch.image_size},
            "scale": 1 / 255,
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "layout": "nchw",
        },
        "tokens": {"count": edge.arch.tokens, "width": edge.arch.bottleneck_dim},
        "bottleneck": {"method": edge.arch.bottleneck_method, "dim": edge.arch.bottleneck_dim},
        "quantisation": {"default": "per-tensor", "allowed": ["per-tensor", "per-token"]},
        "target": {
            "hiddenSize": cloud.arch.token_width,
            "tokens": cloud.arch.target_tokens,
            "gridThw": [1, 16, 16],
            "tokenOrder": "qwen2.5-vl-merge-blocks",
            "rescale": None if rescale is None else {"mean": rescale[0], "std": rescale[1]},
        },
        "opset": OPSET,
        "files": entries,
        "architecture": {"edge": describe(edge.arch), "cloud": describe(cloud.arch)},
        "source": source,
    }


def write_manifest(manifest: dict[str, Any], directory: Path) -> Path:
    path = directory / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def example_inputs(edge: EdgeNetwork, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    size = edge.arch.image_size
    image = torch.randn(batch, 3, size, size, generator=generator)
    with torch.no_grad():
        tokens = edge(image)
    return image, tokens
