#!/usr/bin/env python3
"""Train SplitOculo networks by distillation from Qwen2.5-VL's vision tower (the seed's recipe).

  train.py precompute --qwen DIR --images DIR --split-layer L --out FEATURES [--views N --augment-seed S]
      teacher features after L blocks (the seed's rule) for every image, in shards; resumable
  train.py train --phase warmup --features FEATURES --val-features VAL --out RUN [--preset tiny|full]
                 [--bottleneck-dim D --bottleneck-method linear|mlp|autoencoder] [--quant-noise ste|uniform]
      RUN/latest.pt, RUN/best.pt (the seed's checkpoint layout), RUN/metrics.jsonl; --resume continues
  train.py train --phase gan --init RUN/best.pt --features ... --out RUN-GAN
  train.py split --checkpoint RUN/best.pt --out DIR
      DIR/edge_weights.pth, DIR/cloud_weights.pth (the seed's split files)
  train.py stats --features FEATURES
      mean and std of the teacher features: the manifest's target rescale (export.py --rescale MEAN STD)
  train.py corpus --out DIR [--seed S]
      the tiny model's training images: ffmpeg test patterns and the Debian backgrounds, train/ and val/

Then: export.py --checkpoint RUN/best.pt --split-layer L --rescale MEAN STD --out models/mine.
Run with Debian's /usr/bin/python3 (python3-torch); CPU or CUDA (--device). Bad input: one line, exit 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from qwen_export.vision_config import QwenFolderError  # noqa: E402
from splitoculo_export.architecture import BOTTLENECK_METHODS, PRESETS, ArchitectureError  # noqa: E402
from splitoculo_export.checkpoints import CheckpointError  # noqa: E402
from training.checkpoints import TrainingCheckpointError, split  # noqa: E402
from training.corpus import CorpusError, make_corpus  # noqa: E402
from training.dataset import FeatureFolder, FeatureFolderError  # noqa: E402
from training.images import ImageInputError  # noqa: E402
from training.loop import TrainConfig, train  # noqa: E402
from training.precompute import PrecomputeError, precompute  # noqa: E402
from training.quant import MODES  # noqa: E402

INPUT_ERRORS = (QwenFolderError, ArchitectureError, CheckpointError, TrainingCheckpointError, CorpusError,
                FeatureFolderError, ImageInputError, PrecomputeError, ValueError, FileNotFoundError)


def feature_stats(folder: Path) -> tuple[float, float]:
    """Mean and sample std over every value of every row: the statistics the cloud output is rescaled to."""
    data = FeatureFolder(folder)
    total, squares, count = 0.0, 0.0, 0
    for index in range(len(data.shards)):
        values = data.shard(index)["features"].double()
        total += float(values.sum())
        squares += float((values ** 2).sum())
        count += values.numel()
    mean = total / count
    return mean, ((squares - count * mean * mean) / (count - 1)) ** 0.5


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    pre = commands.add_parser("precompute", help="teacher features after L blocks for an image folder")
    pre.add_argument("--qwen", type=Path, required=True, help="Hugging Face Qwen2.5-VL folder (config.json, safetensors)")
    pre.add_argument("--images", type=Path, required=True)
    pre.add_argument("--split-layer", type=int, required=True, help="L: blocks run (0 = patch embedding output, -1 = pixel patches)")
    pre.add_argument("--out", type=Path, required=True)
    pre.add_argument("--views", type=int, default=1, help="views per image: the plain crop, then augmented crops")
    pre.add_argument("--augment-seed", type=int, default=0)
    pre.add_argument("--shard-size", type=int, default=64, help="images per shard file")
    pre.add_argument("--batch", type=int, default=16)
    pre.add_argument("--shard-index", type=int, default=0)
    pre.add_argument("--shard-count", type=int, default=1, help="split the shards between this many processes")
    run = commands.add_parser("train", help="train (warmup or GAN phase)")
    run.add_argument("--phase", choices=("warmup", "gan"), default="warmup")
    run.add_argument("--features", type=Path, required=True)
    run.add_argument("--val-features", type=Path, required=True)
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--preset", choices=sorted(PRESETS), default="full")
    run.add_argument("--bottleneck-dim", type=int)
    run.add_argument("--bottleneck-method", choices=BOTTLENECK_METHODS)
    run.add_argument("--init", type=Path, help="start from this training checkpoint's networks (GAN phase: the warmup's best.pt)")
    run.add_argument("--epochs", type=int, default=20)
    run.add_argument("--batch", type=int, default=32)
    run.add_argument("--lr", type=float, help="default 1e-4 (warmup), 4e-5 (GAN)")
    run.add_argument("--quant-noise", choices=MODES, default="none",
                     help="train through the board's uint8 quantisation: ste (exact forward, straight-through gradient) or uniform noise of one step")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    run.add_argument("--threads", type=int, help="torch CPU threads")
    run.add_argument("--resume", action="store_true", help="continue from OUT/latest.pt when it exists")
    run.add_argument("--save-every", type=int, default=0, help="also write latest.pt every N steps")
    run.add_argument("--log-every", type=int, default=10)
    run.add_argument("--max-steps", type=int, default=0, help="stop after N steps in all (smoke runs)")
    spl = commands.add_parser("split", help="edge_weights.pth and cloud_weights.pth from a training checkpoint")
    spl.add_argument("--checkpoint", type=Path, required=True)
    spl.add_argument("--out", type=Path, required=True)
    st = commands.add_parser("stats", help="mean and std of precomputed teacher features (for export.py --rescale)")
    st.add_argument("--features", type=Path, required=True)
    st.add_argument("--as-args", action="store_true", help="print MEAN STD (for export.py --rescale) instead of JSON")
    cor = commands.add_parser("corpus", help="training images for the tiny model (ffmpeg patterns, Debian backgrounds)")
    cor.add_argument("--out", type=Path, required=True)
    cor.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    log = lambda line: print(line, flush=True)  # noqa: E731
    try:
        if args.command == "precompute":
            result = precompute(args.qwen, args.images, args.split_layer, args.out, views=args.views, seed=args.augment_seed,
                                shard_size=args.shard_size, batch=args.batch, shard_index=args.shard_index,
                                shard_count=args.shard_count, log=log)
            log(f"precompute: {result.shards_written} shards written ({result.rows_written} rows), {result.shards_skipped} already done")
        elif args.command == "train":
            if args.threads:
                torch.set_num_threads(args.threads)
            fields = {k: getattr(args, k) for k in TrainConfig.__dataclass_fields__ if hasattr(args, k)}
            result = train(TrainConfig(**fields), log=log)
            log(f"train: {result['step']} steps; best {result['select']} {result['best']:.4f}")
        elif args.command == "split":
            for path in split(args.checkpoint, args.out):
                log(f"wrote {path}")
        elif args.command == "stats":
            mean, std = feature_stats(args.features)
            print(f"{mean:.6f} {std:.6f}" if args.as_args else json.dumps({"mean": round(mean, 6), "std": round(std, 6)}))
        else:
            for line in make_corpus(args.out, args.seed):
                log(line)
        return 0
    except INPUT_ERRORS as error:
        print(f"train.py {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
