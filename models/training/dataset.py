"""Reading precomputed shards back as batches (crops uint8, teacher features float32).

The order is drawn from (seed, epoch): shards in a random order, taken a pool of shards at a time (so
memory holds a pool, not the folder), rows shuffled across the pool; a resumed run sees exactly the
batches it would have seen. The last partial batch is dropped in training (BatchNorm wants more than one sample), kept in validation.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import torch

from .precompute import SHARD_FORMAT


class FeatureFolderError(ValueError):
    """A features folder is missing, empty, or not made by precompute."""


def _load_shard(path: Path) -> dict:
    try:
        shard = torch.load(path, map_location="cpu")
    except Exception as error:
        raise FeatureFolderError(f"{path}: not a readable shard ({error})") from error
    if not isinstance(shard, dict) or shard.get("format") != SHARD_FORMAT:
        raise FeatureFolderError(f"{path}: not a teacher-feature shard (format {SHARD_FORMAT!r} expected)")
    if shard["crops"].shape[0] != shard["features"].shape[0] or shard["crops"].shape[0] != len(shard["names"]):
        raise FeatureFolderError(f"{path}: crops, features and names disagree in length")
    return shard


class FeatureFolder:
    def __init__(self, folder: Path) -> None:
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            raise FeatureFolderError(f"{folder}: no meta.json; expected a folder written by `train.py precompute`")
        self.folder = folder
        self.meta = json.loads(meta_path.read_text())
        self.shards = sorted(folder.glob("shard-*.pt"))
        if not self.shards:
            raise FeatureFolderError(f"{folder}: no shards yet; run `train.py precompute` first")
        first = _load_shard(self.shards[0])
        self.hidden = int(first["features"].shape[-1])
        self.tokens = int(first["features"].shape[1])
        self.split_layer = int(self.meta["splitLayer"])
        self._rows = [None] * len(self.shards)
        self._cache: tuple[int, dict] | None = (0, first)

    def shard(self, index: int) -> dict:
        """One shard; the last one read stays cached (validation reads the same shards every epoch)."""
        if self._cache is None or self._cache[0] != index:
            self._cache = (index, _load_shard(self.shards[index]))
        return self._cache[1]

    def __len__(self) -> int:
        return sum(self.rows(i) for i in range(len(self.shards)))

    def rows(self, index: int) -> int:
        if self._rows[index] is None:
            self._rows[index] = len(self.shard(index)["names"])
        return self._rows[index]

    def batches(self, batch: int, seed: int, epoch: int, shuffle: bool, drop_last: bool,
                pool: int = 8) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches over the rows. Shuffled, `pool` shards at a time are mixed (shards hold consecutive
        files, often of one kind: batches drawn from one shard would be of one kind too, which skews
        BatchNorm's statistics and makes the steps swing between kinds); the pools' shards and the rows
        inside a pool are drawn from (seed, epoch)."""
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(len(self.shards), generator=generator).tolist() if shuffle else list(range(len(self.shards)))
        step = pool if shuffle else 1
        pending_crops: list[torch.Tensor] = []
        pending_features: list[torch.Tensor] = []
        held = 0
        for start in range(0, len(order), step):
            shards = [self.shard(index) for index in order[start:start + step]]
            crops = torch.cat([s["crops"] for s in shards])
            features = torch.cat([s["features"] for s in shards])
            rows = torch.randperm(len(crops), generator=generator) if shuffle else torch.arange(len(crops))
            pending_crops.append(crops[rows])
            pending_features.append(features[rows])
            held += len(rows)
            while held >= batch:
                crops, features = torch.cat(pending_crops), torch.cat(pending_features)
                yield crops[:batch], features[:batch].float()
                pending_crops, pending_features, held = [crops[batch:]], [features[batch:]], held - batch
        if held and not drop_last:
            yield torch.cat(pending_crops), torch.cat(pending_features).float()

    def steps_per_epoch(self, batch: int, drop_last: bool = True) -> int:
        total = len(self)
        return total // batch if drop_last else (total + batch - 1) // batch
