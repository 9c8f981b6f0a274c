"""Exporter tests: seed layouts, strict keys, architecture variants, ONNX Runtime parity.

Run with Debian's python3 (python3-torch, python3-onnx) and the pinned node on PATH
(`make test-python` sets both up).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "models"))

import export  # noqa: E402
from splitoculo_export.architecture import PRESETS, CloudArch, EdgeArch  # noqa: E402
from splitoculo_export.checkpoints import (  # noqa: E402
    CheckpointError,
    cloud_from_checkpoint,
    edge_from_checkpoint,
    random_networks,
    save_cloud_checkpoint,
    save_edge_checkpoint,
    save_unsplit_checkpoint,
)
from splitoculo_export.cloud_net import CloudNetwork, EncoderLayer  # noqa: E402
from splitoculo_export.edge_net import EdgeNetwork  # noqa: E402
from splitoculo_export.exporting import ExportError, check_parity, model_id  # noqa: E402

# The seed's layout with narrow token widths: the real MobileNetV2 backbone, small projector and upsampler.
SEED_EDGE = EdgeArch("mobilenetv2_100", "strided", 32, 64, "linear", 64)
SEED_CLOUD = CloudArch(64, "linear", 64, "pixelshuffle", 4, 16)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def run_export(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = export.main(list(argv))
        except SystemExit as exit_:  # argparse errors
            code = int(exit_.code)
    return code, out.getvalue(), err.getvalue()


class FullPresetShapes(unittest.TestCase):
    """The numbers of seed-facts.md, to the parameter."""

    def test_parameter_counts(self):
        edge_arch, cloud_arch = PRESETS["full"]
        edge = EdgeNetwork(edge_arch)
        self.assertEqual(count(edge.student), 1_811_712)
        self.assertEqual(count(edge.projector), 975_872)
        self.assertEqual(count(edge.bottleneck), 81_920)
        self.assertEqual(count(CloudNetwork(cloud_arch)), 126_631_680)
        pooling = EdgeNetwork(replace(edge_arch, projector_type="pooling"))
        self.assertNotIn("downsample.0.weight", pooling.projector.state_dict())

    def test_state_dict_keys_follow_timm_and_the_seed(self):
        edge_arch, cloud_arch = PRESETS["full"]
        student = EdgeNetwork(edge_arch).student.state_dict()
        expected_shapes = {
            "conv_stem.weight": (32, 3, 3, 3),
            "bn1.running_var": (32,),
            "blocks.0.0.conv_dw.weight": (32, 1, 3, 3),
            "blocks.0.0.conv_pw.weight": (16, 32, 1, 1),
            "blocks.1.0.conv_pw.weight": (96, 16, 1, 1),
            "blocks.4.2.conv_pwl.weight": (96, 576, 1, 1),
            "blocks.6.0.conv_pwl.weight": (320, 960, 1, 1),
        }
        for key, shape in expected_shapes.items():
            self.assertEqual(tuple(student[key].shape), shape, key)
        self.assertIn("blocks.3.3.bn3.num_batches_tracked", student)
        self.assertFalse([k for k in student if k.startswith(("conv_head", "bn2", "classifier"))])
        self.assertEqual(len({k.split(".")[1] for k in student if k.startswith("blocks.")}), 7)

        projector = EdgeNetwork(edge_arch).projector.state_dict()
        self.assertEqual(
            sorted(k for k in projector if not k.startswith("bn")),
            ["downsample.0.weight", "dw_conv.weight", "pw_conv1.weight", "pw_conv2.weight"],
        )
        cloud = CloudNetwork(cloud_arch)
        upsampler = cloud.upsampler.state_dict()
        for key, shape in {
            "pre_process.0.weight": (1280, 1280, 3, 3),
            "pixel_shuffle.0.weight": (5120, 1280, 3, 3),
            "pos_embed": (1, 256, 1280),
            "transformer.layers.3.self_attn.in_proj_weight": (3840, 1280),
            "transformer.layers.0.linear1.weight": (2560, 1280),
            "output_norm.bias": (1280,),
        }.items():
            self.assertEqual(tuple(upsampler[key].shape), shape, key)
        self.assertEqual(list(cloud.bottleneck.state_dict()), ["decoder.weight"])

    def test_encoder_layer_equals_torch_transformer_layer(self):
        torch.manual_seed(3)
        reference = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, activation="gelu", batch_first=True, norm_first=True).eval()
        ours = EncoderLayer(64, 4, 128).eval()
        ours.load_state_dict(reference.state_dict(), strict=True)
        x = torch.randn(2, 256, 64)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)


class ExportFromCheckpoints(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="splitoculo-export-"))
        self.edge, self.cloud = random_networks(SEED_EDGE, SEED_CLOUD, seed=5)

    def tearDown(self):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assert_exported(self, out: Path, stdout: str) -> dict:
        manifest = json.loads((out / "manifest.json").read_text())
        self.assertEqual(manifest["splitLayer"], 4)
        self.assertEqual(manifest["splitLayerConvention"], "after-L-blocks")
        self.assertEqual(manifest["tokens"], {"count": 49, "width": 64})
        self.assertEqual(manifest["target"]["rescale"], {"mean": -0.022, "std": 0.847})
        self.assertEqual(manifest["files"]["edge"]["inputs"][0], {"name": "image", "dtype": "float32", "shape": ["batch", 3, 224, 224]})
        self.assertEqual(manifest["files"]["cloud"]["outputs"][0]["shape"], ["batch", 256, 64])
        hashes = {role: entry["sha256"] for role, entry in manifest["files"].items()}
        self.assertEqual(manifest["modelId"], model_id(4, hashes))
        self.assertRegex(stdout, r"edge\.onnx: [\d,]+ bytes; ONNX Runtime vs PyTorch: max abs error [\d.e+-]+, cosine 1\.0000")
        self.assertRegex(stdout, r"cloud\.onnx: [\d,]+ bytes; ONNX Runtime vs PyTorch")
        return manifest

    def test_split_files(self):
        save_edge_checkpoint(self.edge, self.tmp / "edge_weights.pth")
        save_cloud_checkpoint(self.cloud, self.tmp / "cloud_weights.pth")
        loaded = edge_from_checkpoint(self.tmp / "edge_weights.pth")
        image = torch.randn(1, 3, 224, 224)
        with torch.no_grad():
            torch.testing.assert_close(loaded(image), self.edge(image))
        code, stdout, stderr = run_export(
            "--edge-checkpoint", str(self.tmp / "edge_weights.pth"),
            "--cloud-checkpoint", str(self.tmp / "cloud_weights.pth"),
            "--split-layer", "4", "--out", str(self.tmp / "out"))
        self.assertEqual(code, 0, stderr)
        manifest = self.assert_exported(self.tmp / "out", stdout)
        self.assertEqual(manifest["source"]["kind"], "checkpoint")

    def test_unsplit_checkpoint(self):
        save_unsplit_checkpoint(self.edge, self.cloud, self.tmp / "best.pth")
        code, stdout, stderr = run_export("--checkpoint", str(self.tmp / "best.pth"), "--split-layer", "4", "--out", str(self.tmp / "out"))
        self.assertEqual(code, 0, stderr)
        self.assert_exported(self.tmp / "out", stdout)

    def test_discriminator_is_ignored(self):
        path = self.tmp / "cloud_weights.pth"
        save_cloud_checkpoint(self.cloud, path)
        data = torch.load(path)
        data["discriminator_state_dict"] = {"fc.weight": torch.zeros(1, 4)}
        torch.save(data, path)
        cloud_from_checkpoint(path)

    def test_missing_and_extra_keys_are_listed(self):
        path = self.tmp / "edge_weights.pth"
        save_edge_checkpoint(self.edge, path)
        data = torch.load(path)
        del data["student_state_dict"]["blocks.2.1.conv_dw.weight"]
        data["student_state_dict"]["conv_head.weight"] = torch.zeros(1280, 320, 1, 1)
        data["projector_state_dict"]["pw_conv1.weight"] = torch.zeros(8, 96, 1, 1)
        torch.save(data, path)
        with self.assertRaises(CheckpointError) as caught:
            edge_from_checkpoint(path)
        message = str(caught.exception)
        self.assertIn("missing keys: blocks.2.1.conv_dw.weight", message)
        self.assertIn("unexpected keys: conv_head.weight", message)
        del data["student_state_dict"]["conv_head.weight"]
        data["student_state_dict"]["blocks.2.1.conv_dw.weight"] = self.edge.student.state_dict()["blocks.2.1.conv_dw.weight"]
        torch.save(data, path)
        with self.assertRaisesRegex(CheckpointError, r"projector_state_dict: wrong shapes: pw_conv1\.weight \[8, 96, 1, 1\] \(expected \[32, 96, 1, 1\]\)"):
            edge_from_checkpoint(path)

    def test_missing_architecture_fields_are_errors(self):
        path = self.tmp / "cloud_weights.pth"
        save_cloud_checkpoint(self.cloud, path)
        data = torch.load(path)
        del data["args"]["initial_upsample"]
        torch.save(data, path)
        save_edge_checkpoint(self.edge, self.tmp / "edge_weights.pth")
        code, _, stderr = run_export("--edge-checkpoint", str(self.tmp / "edge_weights.pth"), "--cloud-checkpoint", str(path),
                                     "--split-layer", "4", "--out", str(self.tmp / "out"))
        self.assertEqual(code, 1)  # bad input, not bad usage
        self.assertIn("args has no 'initial_upsample'; the exporter refuses to guess it", stderr)
        self.assertFalse((self.tmp / "out").exists())
        edge = torch.load(self.tmp / "edge_weights.pth")
        delattr(edge["args"], "projector_type")
        torch.save(edge, self.tmp / "edge_weights.pth")
        with self.assertRaisesRegex(Exception, "args has no 'projector_type'"):
            edge_from_checkpoint(self.tmp / "edge_weights.pth")

    def test_split_layer_must_be_given_and_known(self):
        save_unsplit_checkpoint(self.edge, self.cloud, self.tmp / "best.pth")
        code, _, stderr = run_export("--checkpoint", str(self.tmp / "best.pth"), "--out", str(self.tmp / "out"))
        self.assertEqual(code, 2)
        self.assertIn("--split-layer", stderr)
        code, _, stderr = run_export("--checkpoint", str(self.tmp / "best.pth"), "--split-layer", "16", "--out", str(self.tmp / "out"))
        self.assertEqual(code, 2)
        self.assertIn("no known target-layer statistics", stderr)
        code, _, stderr = run_export("--checkpoint", str(self.tmp / "missing.pth"), "--split-layer", "4", "--out", str(self.tmp / "out"))
        self.assertEqual(code, 1)  # bad input
        self.assertIn("missing.pth: no such checkpoint file", stderr)
        for bad in ("33", "-2"):
            code, _, stderr = run_export("--checkpoint", str(self.tmp / "best.pth"), "--split-layer", bad, "--out", str(self.tmp / "out"))
            self.assertEqual(code, 2)
            self.assertIn(f"--split-layer: expected -1..32 (blocks run before the split", stderr)
        code, _, stderr = run_export("--checkpoint", str(self.tmp / "best.pth"), "--split-layer", "4", "--rescale", "0", "0", "--out", str(self.tmp / "out"))
        self.assertEqual(code, 2)
        self.assertIn("--rescale: STD must be positive", stderr)
        self.assertFalse((self.tmp / "out").exists())

    def test_split_layer_counts_blocks_run_from_minus_one_to_32(self):
        save_unsplit_checkpoint(self.edge, self.cloud, self.tmp / "best.pth")
        # -1 would be pixel patches (1176 values a patch): a network predicting 64-wide hidden states cannot serve it.
        code, _, stderr = run_export("--checkpoint", str(self.tmp / "best.pth"), "--split-layer", "-1", "--out", str(self.tmp / "out"))
        self.assertEqual(code, 1)
        self.assertIn("--split-layer -1: the features would be Qwen2.5-VL's pixel patches, 1176 values a patch, but this cloud network outputs 64", stderr)
        self.assertFalse((self.tmp / "out").exists())
        # 32: after every block (the tail is the merger alone); the seed has no statistics for it.
        code, _, stderr = run_export("--checkpoint", str(self.tmp / "best.pth"), "--split-layer", "32", "--no-rescale",
                                     "--skip-parity", "--out", str(self.tmp / "out"))
        self.assertEqual(code, 0, stderr)
        manifest = json.loads((self.tmp / "out" / "manifest.json").read_text())
        self.assertEqual((manifest["splitLayer"], manifest["splitLayerConvention"], manifest["target"]["rescale"]), (32, "after-L-blocks", None))


class ArchitectureVariants(unittest.TestCase):
    """Every projector, bottleneck and upsampler variant exports and matches PyTorch in ONNX Runtime."""

    def test_variants(self):
        tiny_edge, tiny_cloud = PRESETS["tiny"]
        variants = [
            ("pooling", "mlp", "bilinear"),
            ("strided", "autoencoder", "pixelshuffle"),
            ("pooling", "autoencoder", "bilinear"),
        ]
        for projector, method, upsample in variants:
            with self.subTest(projector=projector, bottleneck=method, upsample=upsample), tempfile.TemporaryDirectory() as tmp:
                edge, cloud = random_networks(
                    replace(tiny_edge, projector_type=projector, bottleneck_method=method),
                    replace(tiny_cloud, bottleneck_method=method, initial_upsample=upsample),
                    seed=9,
                )
                save_unsplit_checkpoint(edge, cloud, Path(tmp) / "best.pth")
                code, stdout, stderr = run_export("--checkpoint", str(Path(tmp) / "best.pth"), "--split-layer", "8", "--out", str(Path(tmp) / "out"))
                self.assertEqual(code, 0, stderr)
                self.assertEqual(stdout.count("cosine 1.0000"), 2, stdout)
                manifest = json.loads((Path(tmp) / "out" / "manifest.json").read_text())
                self.assertEqual(manifest["bottleneck"]["method"], method)
                self.assertEqual(manifest["target"]["rescale"], {"mean": -0.021, "std": 1.066})


class RunsCode:
    """Pickles as a call to os.system: what a hostile checkpoint's `args` can do to a plain torch.load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class ExporterHardening(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="splitoculo-hardening-"))
        self.edge, self.cloud = random_networks(SEED_EDGE, SEED_CLOUD, seed=5)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def export_split(self, *extra: str) -> tuple[int, str, str]:
        return run_export("--edge-checkpoint", str(self.tmp / "edge_weights.pth"), "--cloud-checkpoint", str(self.tmp / "cloud_weights.pth"),
                          "--split-layer", "4", "--out", str(self.tmp / "out"), *extra)

    def test_a_pickle_that_would_run_code_is_refused_by_name_without_running(self):
        marker = self.tmp / "code-ran"
        save_edge_checkpoint(self.edge, self.tmp / "edge_weights.pth")
        save_cloud_checkpoint(self.cloud, self.tmp / "cloud_weights.pth")
        data = torch.load(self.tmp / "cloud_weights.pth")
        data["args"]["note"] = RunsCode(marker)
        torch.save(data, self.tmp / "cloud_weights.pth")
        code, _, stderr = self.export_split()
        self.assertEqual(code, 1, stderr)
        self.assertIn("cloud_weights.pth: refused without loading it: its pickle names posix.system, which is not a tensor", stderr)
        self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
        self.assertFalse(marker.exists(), "the checkpoint's code ran")
        self.assertFalse((self.tmp / "out").exists())
        # The legacy (pre-zip) format goes through the same restricted unpickler.
        torch.save(data, self.tmp / "legacy.pth", _use_new_zipfile_serialization=False)
        with self.assertRaisesRegex(CheckpointError, "legacy.pth: refused without loading it: its pickle names posix.system"):
            cloud_from_checkpoint(self.tmp / "legacy.pth")
        self.assertFalse(marker.exists(), "the checkpoint's code ran")
        # The file really does run code when unpickled without restriction (so the assertions above can fail).
        torch.load(self.tmp / "cloud_weights.pth")
        self.assertTrue(marker.exists())

    def test_other_classes_are_refused_by_name_and_the_args_namespace_is_not(self):
        save_edge_checkpoint(self.edge, self.tmp / "edge_weights.pth")
        data = torch.load(self.tmp / "edge_weights.pth")
        self.assertIsInstance(data["args"], argparse.Namespace)
        edge_from_checkpoint(self.tmp / "edge_weights.pth")  # Namespace, OrderedDict, tensors: loaded
        torch.save(data, self.tmp / "legacy.pth", _use_new_zipfile_serialization=False)
        edge_from_checkpoint(self.tmp / "legacy.pth")  # the pre-zip format too
        data["args"].data_root = Path("/data/coco")
        torch.save(data, self.tmp / "edge_weights.pth")
        with self.assertRaisesRegex(CheckpointError, r"its pickle names pathlib\.PosixPath, which is not"):
            edge_from_checkpoint(self.tmp / "edge_weights.pth")

    def test_non_finite_weights_are_named_and_nothing_is_written(self):
        save_edge_checkpoint(self.edge, self.tmp / "edge_weights.pth")
        save_cloud_checkpoint(self.cloud, self.tmp / "cloud_weights.pth")
        data = torch.load(self.tmp / "cloud_weights.pth")
        data["upsampler_state_dict"]["transformer.layers.2.linear1.weight"][3, :5] = float("nan")
        data["upsampler_state_dict"]["pos_embed"][0, 0, 0] = float("inf")
        torch.save(data, self.tmp / "cloud_weights.pth")
        code, _, stderr = self.export_split()
        self.assertEqual(code, 1, stderr)
        self.assertIn("upsampler_state_dict: non-finite weights in pos_embed (1 of 16384 values NaN or infinite), "
                      "transformer.layers.2.linear1.weight (5 of 8192 values NaN or infinite)", stderr)
        self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
        self.assertEqual(sorted(p.name for p in self.tmp.iterdir()), ["cloud_weights.pth", "edge_weights.pth"])

    def test_a_failed_export_leaves_an_existing_model_folder_as_it_was(self):
        save_edge_checkpoint(self.edge, self.tmp / "edge_weights.pth")
        save_cloud_checkpoint(self.cloud, self.tmp / "cloud_weights.pth")
        code, _, stderr = self.export_split("--skip-parity")
        self.assertEqual(code, 0, stderr)
        before = {p.name: p.read_bytes() for p in (self.tmp / "out").iterdir()}
        self.assertEqual(sorted(before), ["cloud.onnx", "edge.onnx", "manifest.json"])
        exporting = sys.modules["splitoculo_export.exporting"]
        pinned = exporting.PINNED_NODE
        exporting.PINNED_NODE = self.tmp / "no-node" / "node"  # fails at the first parity check, after edge.onnx is written
        try:
            code, _, stderr = run_export("--preset", "tiny", "--split-layer", "4", "--out", str(self.tmp / "out"))
        finally:
            exporting.PINNED_NODE = pinned
        self.assertEqual(code, 1)
        self.assertEqual(stderr.strip(), f"export.py: error: the parity check runs on the project's pinned Node.js, not found at "
                                         f"{self.tmp / 'no-node' / 'node'}: run `make deps` (or skip the check with --skip-parity)")
        self.assertEqual({p.name: p.read_bytes() for p in (self.tmp / "out").iterdir()}, before)
        self.assertEqual(sorted(p.name for p in self.tmp.iterdir()), ["cloud_weights.pth", "edge_weights.pth", "out"])

    def test_parity_runs_on_the_pinned_node_whatever_is_on_path(self):
        fake = self.tmp / "bin"
        fake.mkdir()
        marker = self.tmp / "fake-node-ran"
        (fake / "node").write_text(f"#!/bin/sh\ntouch {marker}\necho 'Debian node 20' >&2\nexit 1\n")
        (fake / "node").chmod(0o755)
        path = os.environ["PATH"]
        os.environ["PATH"] = f"{fake}:{path}"
        try:
            code, stdout, stderr = run_export("--preset", "tiny", "--split-layer", "4", "--out", str(self.tmp / "out"))
        finally:
            os.environ["PATH"] = path
        self.assertEqual(code, 0, stderr)
        self.assertEqual(stdout.count("cosine 1.0000"), 2, stdout)
        self.assertFalse(marker.exists())

    def test_non_finite_parity_outputs_are_an_error_not_a_traceback(self):
        class NaNs(nn.Module):
            def forward(self, tokens: torch.Tensor) -> torch.Tensor:
                return torch.full((tokens.shape[0], 256, 64), float("nan"))

        with self.assertRaisesRegex(ExportError, r"parity check of cloud\.onnx: the outputs are not finite"):
            check_parity(NaNs(), torch.zeros(1, 49, 64), REPO / "models" / "tiny" / "cloud.onnx")

    def test_bad_usage_exits_2(self):
        for argv in ([], ["--split-layer", "4", "--out", "x"], ["--preset", "tiny", "--checkpoint", "a.pth", "--split-layer", "4", "--out", "x"],
                     ["--preset", "tiny", "--split-layer", "four", "--out", "x"]):
            code, _, _ = run_export(*argv)
            self.assertEqual(code, 2, argv)


if __name__ == "__main__":
    unittest.main()
