"""Teacher features for an image folder, written in shards, resumable.

Out folder: `meta.json` (the Qwen folder's config hash, L, views, seed, the image list) and
`shard-NNNNN.pt`, each holding `shard_size` consecutive images x `views` views:
  names     "<relative path>#<view>" per row
  crops     uint8 [rows, 224, 224, 3]: what the student sees (the seed's crop of the view)
  features  float16 [rows, 256, hidden]: the teacher's hidden states after L blocks, processor order
A shard file appears only complete (written to a temporary name, then renamed), so a second run skips
every shard that exists and does no work for them; `--shard-index i --shard-count n` splits the shards
between processes. A run into a folder made with other settings is refused (meta.json differs).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .images import ImageInputError, list_images, load_rgb, view
from .pixels import crops_to_uint8, teacher_patches
from .teacher import Teacher

SHARD_FORMAT = "splitoculo-teacher-shard"


class PrecomputeError(ValueError):
    """The output folder holds features made with other settings, or the inputs are unusable."""


@dataclass
class PrecomputeResult:
    shards_total: int
    shards_written: int
    shards_skipped: int
    rows_written: int


def shard_path(out: Path, index: int) -> Path:
    return out / f"shard-{index:05d}.pt"


def _meta(qwen: Path, images: Path, names: list[str], split_layer: int, views: int, seed: int, shard_size: int) -> dict:
    config = (qwen / "config.json").read_bytes() if (qwen / "config.json").is_file() else b""
    return {
        "format": "splitoculo-teacher-features", "formatVersion": 1,
        "qwenConfigSha256": hashlib.sha256(config).hexdigest(), "splitLayer": split_layer,
        "splitLayerConvention": "blocks-run", "views": views, "augmentSeed": seed, "shardSize": shard_size,
        "images": names,
    }


def _check_meta(out: Path, meta: dict) -> None:
    path = out / "meta.json"
    if path.exists():
        existing = json.loads(path.read_text())
        differing = sorted(k for k in set(meta) | set(existing) if meta.get(k) != existing.get(k))
        if differing:
            raise PrecomputeError(f"{out}: holds teacher features made with other settings ({', '.join(differing)} differ); use a new --out folder")
    else:
        out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, indent=1) + "\n")
        os.replace(tmp, path)


def precompute(qwen: Path, images: Path, split_layer: int, out: Path, *, views: int = 1, seed: int = 0,
               shard_size: int = 64, batch: int = 16, shard_index: int = 0, shard_count: int = 1,
               log=print) -> PrecomputeResult:
    if views < 1 or shard_size < 1 or batch < 1:
        raise PrecomputeError(f"views, shard size and batch must be positive (got {views}, {shard_size}, {batch})")
    if not 0 <= shard_index < shard_count:
        raise PrecomputeError(f"--shard-index {shard_index}: expected 0..{shard_count - 1}")
    files = list_images(images)
    if not files:
        raise PrecomputeError(f"{images}: no image files ({', '.join(sorted({'.png', '.jpg', '.webp'}))}, ...)")
    names = [str(p.relative_to(images)) for p in files]
    _check_meta(out, _meta(qwen, images, names, split_layer, views, seed, shard_size))
    shards = (len(files) + shard_size - 1) // shard_size
    mine = [i for i in range(shards) if i % shard_count == shard_index]
    todo = [i for i in mine if not shard_path(out, i).exists()]
    log(f"precompute: {len(files)} images x {views} views in {shards} shards; {len(mine) - len(todo)} of this worker's {len(mine)} already done")
    if not todo:
        return PrecomputeResult(shards, 0, len(mine), 0)
    teacher = Teacher(qwen, split_layer)
    rows_written = 0
    started = time.monotonic()
    for done, index in enumerate(todo, 1):
        chunk = list(zip(files[index * shard_size:(index + 1) * shard_size], names[index * shard_size:(index + 1) * shard_size]))
        row_names, crops = [], []
        for path, name in chunk:
            try:
                image = load_rgb(path)
                for v in range(views):
                    crops.append(view(image, v, seed, name))
                    row_names.append(f"{name}#{v}")
            except ImageInputError as error:
                log(f"precompute: skipped {error}")
        rgb = crops_to_uint8(crops) if crops else torch.zeros(0, 224, 224, 3, dtype=torch.uint8)
        features = [teacher.features(teacher_patches(rgb[i:i + batch])).to(torch.float16) for i in range(0, len(rgb), batch)]
        shard = {"format": SHARD_FORMAT, "formatVersion": 1, "splitLayer": split_layer, "names": row_names,
                 "crops": rgb, "features": torch.cat(features) if features else torch.zeros(0, 256, teacher.hidden_size, dtype=torch.float16)}
        target = shard_path(out, index)
        tmp = target.with_suffix(".pt.tmp")
        torch.save(shard, tmp)
        os.replace(tmp, target)
        rows_written += len(row_names)
        elapsed = time.monotonic() - started
        log(f"precompute: shard {index + 1}/{shards} ({len(row_names)} rows) written; {done}/{len(todo)} this run, "
            f"{elapsed:.1f} s, about {elapsed / done * (len(todo) - done):.0f} s left")
    return PrecomputeResult(shards, len(todo), len(mine) - len(todo), rows_written)
