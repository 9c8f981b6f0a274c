#!/usr/bin/env python3
"""Export SplitOculo networks to ONNX with a manifest.

From the seed's checkpoints:
  models/export.py --edge-checkpoint edge_weights.pth --cloud-checkpoint cloud_weights.pth \
                   --split-layer 4 --out models/mine
From an unsplit training checkpoint:
  models/export.py --checkpoint best.pth --split-layer 4 --out models/mine
Random weights (tests, demo, benchmarks):
  models/export.py --preset tiny|full --random-seed 1 --split-layer 4 --out models/tiny

The split layer L is not stored in the checkpoints and must be given, counted as the seed counts it:
the cloud network predicts Qwen2.5-VL's vision hidden states after L blocks (0: the patch embedding's
output; -1: the pixel patches), and the Qwen tail resumes at block L (manifest: splitLayerConvention).
Checkpoints are unpickled without running code (only tensors, plain containers, OrderedDict and the
args Namespace); non-finite weights are refused by name before anything is written; the output folder
only receives files once everything, parity included, has succeeded.
Exit status: 0 done, 1 bad input (a checkpoint or check that fails), 2 bad usage (options).
Run with Debian's /usr/bin/python3 (python3-torch, python3-onnx); parity needs `make deps`'s pinned node.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from splitoculo_export.architecture import PRESETS, ArchitectureError  # noqa: E402
from splitoculo_export.checkpoints import (  # noqa: E402
    CheckpointError,
    cloud_from_checkpoint,
    edge_from_checkpoint,
    random_networks,
)
from splitoculo_export.exporting import (  # noqa: E402
    PIXEL_PATCH_VALUES,
    SEED_RESCALE,
    ExportError,
    build_manifest,
    check_parity,
    example_inputs,
    export_onnx,
    sha256_file,
    write_manifest,
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_argument_group("weights (choose one)")
    source.add_argument("--preset", choices=sorted(PRESETS), help="random weights in this preset's architecture")
    source.add_argument("--checkpoint", type=Path, help="unsplit training checkpoint (bottleneck_state_dict)")
    source.add_argument("--edge-checkpoint", type=Path, help="the seed's edge_weights.pth")
    source.add_argument("--cloud-checkpoint", type=Path, help="the seed's cloud_weights.pth")
    parser.add_argument("--random-seed", type=int, default=1, help="seed for --preset weights and parity inputs")
    parser.add_argument("--split-layer", type=int, required=True,
                        help="the L the checkpoint was trained at, as the seed counts it: features after L vision blocks "
                             "(0: patch embedding output, -1: pixel patches); not stored in checkpoints")
    parser.add_argument("--rescale", type=float, nargs=2, metavar=("MEAN", "STD"),
                        help="target-layer statistics; default: the seed's values for L in 0, 4, 8")
    parser.add_argument("--no-rescale", action="store_true", help="do not rescale the cloud output (L=-1)")
    parser.add_argument("--name", help="model name in the manifest (default: the output folder's name)")
    parser.add_argument("--out", type=Path, required=True, help="output folder for edge.onnx, cloud.onnx, manifest.json")
    parser.add_argument("--skip-parity", action="store_true", help="do not compare ONNX Runtime with PyTorch")
    args = parser.parse_args(argv)
    chosen = [bool(args.preset), bool(args.checkpoint), bool(args.edge_checkpoint or args.cloud_checkpoint)]
    if sum(chosen) != 1:
        parser.error("give exactly one of --preset, --checkpoint, or --edge-checkpoint with --cloud-checkpoint")
    if bool(args.edge_checkpoint) != bool(args.cloud_checkpoint):
        parser.error("--edge-checkpoint and --cloud-checkpoint go together")
    if args.split_layer < -1 or args.split_layer > 32:
        parser.error(f"--split-layer: expected -1..32 (blocks run before the split; Qwen2.5-VL has 32 vision blocks), got {args.split_layer}")
    try:
        args.rescale_stats = rescale_for(args)
    except ValueError as error:
        parser.error(str(error))
    return args


def rescale_for(args: argparse.Namespace) -> tuple[float, float] | None:
    """The target-layer statistics, keyed by the seed's L; a usage error (ValueError) when none fit."""
    if args.no_rescale or args.split_layer == -1:
        return None
    if args.rescale:
        mean, std = args.rescale
        if not std > 0:
            raise ValueError(f"--rescale: STD must be positive, got {std}")
        return mean, std
    if args.split_layer not in SEED_RESCALE:
        raise ValueError(
            f"--split-layer {args.split_layer}: no known target-layer statistics "
            f"(known: {sorted(SEED_RESCALE)}); give --rescale MEAN STD or --no-rescale"
        )
    return SEED_RESCALE[args.split_layer]


def check_split_layer_fits(split_layer: int, cloud) -> None:
    """L = -1 means the cloud network predicts Qwen's raw pixel patches (3*2*14*14 = 1176 values a patch),
    which the tail then embeds; a network predicting hidden states (1280 wide) cannot serve it."""
    if split_layer == -1 and cloud.arch.token_width != PIXEL_PATCH_VALUES:
        raise ExportError(
            f"--split-layer -1: the features would be Qwen2.5-VL's pixel patches, {PIXEL_PATCH_VALUES} values a patch, "
            f"but this cloud network outputs {cloud.arch.token_width} (target_hidden_size); give the L it was trained at")


def load_networks(args: argparse.Namespace):
    if args.preset:
        edge_arch, cloud_arch = PRESETS[args.preset]
        return (*random_networks(edge_arch, cloud_arch, args.random_seed),
                {"kind": "random", "preset": args.preset, "seed": args.random_seed})
    if args.checkpoint:
        return (edge_from_checkpoint(args.checkpoint), cloud_from_checkpoint(args.checkpoint),
                {"kind": "checkpoint", "checkpoint": args.checkpoint.name, "sha256": sha256_file(args.checkpoint)})
    edge, cloud = edge_from_checkpoint(args.edge_checkpoint), cloud_from_checkpoint(args.cloud_checkpoint)
    if edge.arch.bottleneck_dim != cloud.arch.bottleneck_dim or edge.arch.bottleneck_method != cloud.arch.bottleneck_method:
        raise CheckpointError(
            f"{args.edge_checkpoint} and {args.cloud_checkpoint} disagree on the bottleneck: edge "
            f"{edge.arch.bottleneck_method}/{edge.arch.bottleneck_dim}, cloud {cloud.arch.bottleneck_method}/{cloud.arch.bottleneck_dim}"
        )
    source = {"kind": "checkpoint",
              "edge": args.edge_checkpoint.name, "edgeSha256": sha256_file(args.edge_checkpoint),
              "cloud": args.cloud_checkpoint.name, "cloudSha256": sha256_file(args.cloud_checkpoint)}
    return edge, cloud, source


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    staging = None
    try:
        edge, cloud, source = load_networks(args)
        if edge.arch.token_width != cloud.arch.token_width:
            raise CheckpointError(f"edge token width {edge.arch.token_width} != cloud width {cloud.arch.token_width}")
        check_split_layer_fits(args.split_layer, cloud)
        # Everything is written beside the destination first and moved in only when complete, so a failure
        # leaves no half-exported folder (and an existing model folder untouched).
        args.out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.export-", dir=args.out.parent))
        image, tokens = example_inputs(edge, batch=2, seed=args.random_seed)
        files = {"edge": staging / "edge.onnx", "cloud": staging / "cloud.onnx"}
        export_onnx(edge, image, files["edge"], "image", "tokens")
        export_onnx(cloud, tokens, files["cloud"], "tokens", "features")
        for role, net, example in (("edge", edge, image), ("cloud", cloud, tokens)):
            size = files[role].stat().st_size
            if args.skip_parity:
                print(f"{role}.onnx: {size:,} bytes (parity not checked)")
                continue
            parity = check_parity(net, example, files[role])
            print(f"{role}.onnx: {size:,} bytes; ONNX Runtime vs PyTorch: "
                  f"max abs error {parity.max_abs_error:.3e}, cosine {parity.cosine:.9f}")
            if not parity.cosine > 0.9999:
                raise ExportError(f"{role}.onnx disagrees with PyTorch (cosine {parity.cosine})")
        name = args.name or args.out.resolve().name
        manifest = build_manifest(name=name, split_layer=args.split_layer, rescale=args.rescale_stats,
                                  edge=edge, cloud=cloud, files=files, source=source)
        write_manifest(manifest, staging)
        args.out.mkdir(parents=True, exist_ok=True)
        for file_name in ("edge.onnx", "cloud.onnx", "manifest.json"):  # the manifest last: it vouches for the others
            (staging / file_name).replace(args.out / file_name)
        print(f"wrote {args.out / 'manifest.json'} (model id {manifest['modelId']})")
        return 0
    except (ArchitectureError, CheckpointError, ExportError) as error:
        print(f"export.py: error: {error}", file=sys.stderr)
        return 1
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
