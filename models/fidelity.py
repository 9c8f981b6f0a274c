#!/usr/bin/env python3
"""How faithfully a SplitOculo model stands in for Qwen2.5-VL's vision tower, on held-out images.

  fidelity.py --qwen DIR --images DIR (--checkpoint best.pt | --edge-checkpoint E --cloud-checkpoint C |
              --preset tiny --random-seed N) (--manifest FOLDER | --split-layer L (--rescale MEAN STD | --no-rescale))
              [--prompt Q] [--max-new-tokens 12] [--jpeg-quality Q] [--out fidelity.json]

Per image, everything in PyTorch on the same 224x224 crop (the seed's rule, models/training/images.py):
  featureCosine           cloud network output vs the teacher's hidden states after L blocks (mean token cosine)
  featureCosineQuantised  the same after the board's per-tensor uint8 round trip
  featureCosineDeployed   ... and the manifest's rescale: what the worker hands the vision tail
  mergedCosine            the vision tail run on the deployed features vs the whole tower on the image
                          (merged visual tokens, mean cosine), and their relative error
  answers                 greedy tokens of the same language model from both merged tokens, for the
                          worker's prompt (its tokenizer and chat template, via node); agree = identical
                          tokens (also counted for the first token alone)
With --jpeg-quality the whole-image path sees the crop after a JPEG round trip (the daemon's codec jpeg), and
the JPEG path's own answers are compared with the exact crop's (how much a small change moves the answer).
Writes JSON (--out) and prints a table; parity figures are reported as mean and worst case.
Run with Debian's /usr/bin/python3; the prompt needs the pinned node (make deps). Bad input: one line, exit 1.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from qwen_export.greedy import greedy_generate  # noqa: E402
from qwen_export.text_decoder import load_language_model  # noqa: E402
from qwen_export.vision_config import QwenFolderError, read_config  # noqa: E402
from splitoculo_export.architecture import PRESETS, ArchitectureError  # noqa: E402
from splitoculo_export.checkpoints import CheckpointError, cloud_from_checkpoint, edge_from_checkpoint, random_networks, read_checkpoint  # noqa: E402
from training.images import ImageInputError, list_images, load_rgb, seed_crop  # noqa: E402
from training.pixels import crops_to_uint8, student_input, teacher_patches  # noqa: E402
from training.quant import round_trip  # noqa: E402
from training.teacher import Teacher  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NODE = REPO / ".cache" / "node" / "bin" / "node"


class FidelityError(ValueError):
    """Inputs that do not fit together."""


def rescale(features: torch.Tensor, target: tuple[float, float] | None) -> torch.Tensor:
    """The seed's inference-time rescale (cloud/pipeline/rescale.ts): standardise each sample over the whole
    tensor (sample std), then give it the target layer's mean and std."""
    if target is None:
        return features
    flat = features.flatten(1)
    mean, std = flat.mean(dim=1).view(-1, 1, 1), flat.std(dim=1).view(-1, 1, 1)
    return (features - mean) / std * target[1] + target[0]


def token_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a, b, dim=-1).mean())


def prompt_ids(qwen: Path, image_tokens: int, question: str) -> tuple[list[int], set[int]]:
    node = str(NODE) if NODE.exists() else "node"
    result = subprocess.run([node, str(REPO / "models" / "training" / "prompt_ids.ts"), str(qwen), str(image_tokens), question],
                            capture_output=True, text=True, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    if result.returncode != 0:
        raise FidelityError(f"building the prompt with {node} failed: {(result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]}; run `make deps` for the pinned node")
    data = json.loads(result.stdout)
    generation = qwen / "generation_config.json"
    stops = set(data["stopIds"])
    if generation.exists():
        eos = json.loads(generation.read_text()).get("eos_token_id", [])
        stops |= set(eos if isinstance(eos, list) else [eos])
    return data["inputIds"], stops


def load_networks(args: argparse.Namespace):
    if args.preset:
        edge, cloud = random_networks(*PRESETS[args.preset], args.random_seed)
        return edge, cloud, {"kind": "random", "preset": args.preset, "seed": args.random_seed}, None
    if args.checkpoint:
        data = read_checkpoint(args.checkpoint)
        raw = data.get("args")
        stored = (vars(raw) if isinstance(raw, argparse.Namespace) else dict(raw or {})).get("split_layer")
        return (edge_from_checkpoint(args.checkpoint), cloud_from_checkpoint(args.checkpoint),
                {"kind": "checkpoint", "checkpoint": str(args.checkpoint)}, stored)
    return (edge_from_checkpoint(args.edge_checkpoint), cloud_from_checkpoint(args.cloud_checkpoint),
            {"kind": "checkpoint", "edge": str(args.edge_checkpoint), "cloud": str(args.cloud_checkpoint)}, None)


def deployment(args: argparse.Namespace, stored_layer: int | None) -> tuple[int, tuple[float, float] | None]:
    """Split layer and rescale: from an exported model's manifest, or given."""
    if args.manifest:
        path = args.manifest / "manifest.json" if args.manifest.is_dir() else args.manifest
        manifest = json.loads(path.read_text())
        target = manifest["target"].get("rescale")
        layer, scale = int(manifest["splitLayer"]), (None if target is None else (float(target["mean"]), float(target["std"])))
    else:
        if args.split_layer is None and stored_layer is None:
            raise FidelityError("--split-layer: the checkpoint does not store L; give --split-layer or --manifest")
        layer = args.split_layer if args.split_layer is not None else int(stored_layer)
        if not args.no_rescale and not args.rescale:
            raise FidelityError("give --rescale MEAN STD (train.py stats), --no-rescale, or --manifest of the exported model")
        scale = None if args.no_rescale else (args.rescale[0], args.rescale[1])
    if stored_layer is not None and int(stored_layer) != layer:
        raise FidelityError(f"the checkpoint was trained at split layer {stored_layer}, the deployment says {layer}")
    return layer, scale


def jpeg_round_trip(crop: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    crop.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def summarise(values: list[float]) -> dict[str, float]:
    return {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}


@torch.no_grad()
def measure(args: argparse.Namespace) -> dict:
    edge, cloud, source, stored_layer = load_networks(args)
    layer, target = deployment(args, stored_layer)
    teacher = Teacher(args.qwen, layer)
    if cloud.arch.token_width != teacher.hidden_size:
        raise FidelityError(f"the model predicts width {cloud.arch.token_width}, {args.qwen}'s features at L={layer} are {teacher.hidden_size} wide")
    language = load_language_model(args.qwen).eval()
    config = read_config(args.qwen)
    merge = teacher.config.spatial_merge_size
    image_tokens = teacher.grid.patches // teacher.config.merge_unit
    ids, stops = prompt_ids(args.qwen, image_tokens, args.prompt)
    rows, skipped = [], []
    for path in list_images(args.images):
        try:
            crop = seed_crop(load_rgb(path))
        except ImageInputError as error:
            skipped.append(str(error))
            continue
        rgb = crops_to_uint8([crop])
        whole_rgb = crops_to_uint8([jpeg_round_trip(crop, args.jpeg_quality)]) if args.jpeg_quality else rgb
        features = teacher.features(teacher_patches(rgb))
        whole = teacher.merged(teacher_patches(whole_rgb))
        tokens = edge(student_input(rgb))
        out, out_q = cloud(tokens), cloud(round_trip(tokens))
        deployed = rescale(out_q, target)
        neural = teacher.resume(deployed)
        paths = [("neural", neural), ("whole", whole)]
        if args.jpeg_quality:  # how far the JPEG path itself moves the answer: the yardstick for the neural path
            paths.append(("exact", teacher.merged(teacher_patches(rgb))))
        answer = {name: greedy_generate(language, ids, embeds[0], config["image_token_id"], teacher.grid.as_list(), merge,
                                        args.max_new_tokens, stops) for name, embeds in paths}
        rows.append({
            "image": str(path.relative_to(args.images)),
            "featureCosine": token_cosine(out, features), "featureCosineQuantised": token_cosine(out_q, features),
            "featureCosineDeployed": token_cosine(deployed, features),
            "mergedCosine": token_cosine(neural, whole), "mergedRelativeError": float((neural - whole).norm() / whole.norm()),
            "neuralTokens": answer["neural"], "wholeTokens": answer["whole"], "agree": answer["neural"] == answer["whole"],
            "firstTokenAgree": answer["neural"][:1] == answer["whole"][:1],
            **({"wholeAgreesWithExactCrop": answer["whole"] == answer["exact"]} if "exact" in answer else {}),
        })
    if not rows:
        raise FidelityError(f"{args.images}: no readable images")
    keys = ("featureCosine", "featureCosineQuantised", "featureCosineDeployed", "mergedCosine", "mergedRelativeError")
    return {
        "format": "splitoculo-fidelity", "formatVersion": 1, "label": args.label or source.get("checkpoint", source.get("kind")),
        "model": source, "qwen": str(args.qwen), "splitLayer": layer, "rescale": None if target is None else {"mean": target[0], "std": target[1]},
        "images": str(args.images), "prompt": args.prompt, "maxNewTokens": args.max_new_tokens, "jpegQuality": args.jpeg_quality,
        "summary": {**{k: summarise([r[k] for r in rows]) for k in keys},
                    "answerAgreement": {"agree": sum(r["agree"] for r in rows), "of": len(rows)},
                    "firstTokenAgreement": {"agree": sum(r["firstTokenAgree"] for r in rows), "of": len(rows)},
                    **({"jpegAgreesWithExactCrop": {"agree": sum(r["wholeAgreesWithExactCrop"] for r in rows), "of": len(rows)}}
                       if args.jpeg_quality else {})},
        "skipped": skipped, "perImage": rows,
    }


def table(result: dict) -> str:
    lines = [f"{'image':<24} {'feature cos':>11} {'after uint8':>11} {'deployed':>9} {'merged cos':>10} {'answers':>8}"]
    for r in result["perImage"]:
        lines.append(f"{r['image'][:24]:<24} {r['featureCosine']:>11.4f} {r['featureCosineQuantised']:>11.4f} {r['featureCosineDeployed']:>9.4f} "
                     f"{r['mergedCosine']:>10.4f} {'same' if r['agree'] else 'differ':>8}")
    s = result["summary"]
    lines.append(f"{'mean (worst)':<24} {s['featureCosine']['mean']:>5.4f} ({s['featureCosine']['min']:.3f}) "
                 f"{s['featureCosineQuantised']['mean']:.4f} ({s['featureCosineQuantised']['min']:.3f}) "
                 f"{s['featureCosineDeployed']['mean']:.4f} ({s['featureCosineDeployed']['min']:.3f}) "
                 f"{s['mergedCosine']['mean']:.4f} ({s['mergedCosine']['min']:.3f})")
    lines.append(f"answers equal to the whole-image path: {s['answerAgreement']['agree']}/{s['answerAgreement']['of']} "
                 f"(first token: {s['firstTokenAgreement']['agree']}/{s['firstTokenAgreement']['of']})")
    if "jpegAgreesWithExactCrop" in s:
        lines.append(f"the JPEG path's answers equal the exact crop's: {s['jpegAgreesWithExactCrop']['agree']}/{s['jpegAgreesWithExactCrop']['of']}")
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qwen", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True, help="held-out images (never trained on)")
    model = parser.add_argument_group("model (choose one)")
    model.add_argument("--checkpoint", type=Path, help="training checkpoint (train.py's best.pt, or the seed's)")
    model.add_argument("--edge-checkpoint", type=Path)
    model.add_argument("--cloud-checkpoint", type=Path)
    model.add_argument("--preset", choices=sorted(PRESETS), help="random weights (the untrained baseline)")
    parser.add_argument("--random-seed", type=int, default=1)
    parser.add_argument("--manifest", type=Path, help="exported model folder or manifest.json: split layer and rescale from it")
    parser.add_argument("--split-layer", type=int)
    parser.add_argument("--rescale", type=float, nargs=2, metavar=("MEAN", "STD"))
    parser.add_argument("--no-rescale", action="store_true")
    parser.add_argument("--prompt", default="What is in this picture?")
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--jpeg-quality", type=int, help="JPEG round trip on the whole-image path (the daemon's codec jpeg uses 85)")
    parser.add_argument("--label", help="name of this measurement in the JSON and the bench report")
    parser.add_argument("--out", type=Path, help="write the JSON here")
    args = parser.parse_args(argv)
    chosen = [bool(args.preset), bool(args.checkpoint), bool(args.edge_checkpoint or args.cloud_checkpoint)]
    if sum(chosen) != 1 or bool(args.edge_checkpoint) != bool(args.cloud_checkpoint):
        parser.error("give exactly one of --checkpoint, --edge-checkpoint with --cloud-checkpoint, or --preset")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        result = measure(args)
    except (FidelityError, QwenFolderError, ArchitectureError, CheckpointError, ImageInputError, FileNotFoundError, KeyError) as error:
        print(f"fidelity.py: {error}", file=sys.stderr)
        return 1
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
