"""Read and write .safetensors files (an 8-byte header length, a JSON header, raw little-endian data).

Hugging Face folders hold one model.safetensors or shards listed in model.safetensors.index.json.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

from .vision_config import QwenFolderError

DTYPES = {
    "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8,
}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


def read_header(path: Path) -> tuple[dict, int]:
    with path.open("rb") as handle:
        size_bytes = handle.read(8)
        if len(size_bytes) != 8:
            raise QwenFolderError(f"{path}: too short for a safetensors file")
        (size,) = struct.unpack("<Q", size_bytes)
        if size > 100_000_000:
            raise QwenFolderError(f"{path}: header of {size} bytes; not a safetensors file")
        header = json.loads(handle.read(size))
    header.pop("__metadata__", None)
    return header, 8 + size


def read_tensors(path: Path, wanted) -> dict[str, torch.Tensor]:
    """Tensors of one file whose names satisfy wanted(name), as float32 when they are floating point."""
    header, data_start = read_header(path)
    tensors = {}
    with path.open("rb") as handle:
        for name, entry in header.items():
            if not wanted(name):
                continue
            dtype = DTYPES.get(entry["dtype"])
            if dtype is None:
                raise QwenFolderError(f"{path}: tensor {name} has dtype {entry['dtype']}, which this reader does not know")
            start, end = entry["data_offsets"]
            handle.seek(data_start + start)
            raw = bytearray(handle.read(end - start))
            tensor = torch.frombuffer(raw, dtype=dtype).reshape(entry["shape"]) if raw else torch.empty(entry["shape"], dtype=dtype)
            tensors[name] = tensor.float() if tensor.is_floating_point() else tensor
    return tensors


def weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.exists():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        files = [folder / name for name in names]
    else:
        files = [folder / "model.safetensors"]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise QwenFolderError(f"weights not found: {', '.join(missing)}; expected model.safetensors or the shards named in model.safetensors.index.json")
    return files


def read_folder(folder: Path, prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """All tensors under any of the prefixes, with the prefix removed."""
    found: dict[str, torch.Tensor] = {}
    for path in weight_files(folder):
        for name, tensor in read_tensors(path, lambda n: n.startswith(prefixes)).items():
            prefix = next(p for p in prefixes if name.startswith(p))
            found[name[len(prefix):]] = tensor
    return found


def write_file(path: Path, tensors: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32) -> None:
    header, chunks, offset = {}, [], 0
    for name, tensor in tensors.items():
        stored = tensor.detach().to(dtype).contiguous()
        data = (stored.view(torch.int16) if dtype == torch.bfloat16 else stored).numpy().tobytes()  # numpy has no bfloat16
        header[name] = {"dtype": NAMES[dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for chunk in chunks:
            handle.write(chunk)
