"""models/train.py: teacher features (the seed's rule), sharded resumable precompute, the seed's losses and
discriminator, training through the board's uint8 quantisation, resume, and checkpoints export.py takes.

Short on purpose (a few steps of the tiny preset on a handful of images); the demo model's real training
is `make models-tiny-trained`. Run with Debian's python3 and the pinned node on PATH (`make test-python`).
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "models"))

import export  # noqa: E402
import train as train_cli  # noqa: E402
from qwen_export.geometry import Grid  # noqa: E402
from training import quant  # noqa: E402
from training.checkpoints import load_training, split  # noqa: E402
from training.dataset import FeatureFolder  # noqa: E402
from training.discriminator import FeatureDiscriminator  # noqa: E402
from training.images import seed_crop  # noqa: E402
from training.loop import TrainConfig, train  # noqa: E402
from training.pixels import teacher_patches  # noqa: E402
from training.precompute import PrecomputeError, precompute  # noqa: E402
from training.teacher import Teacher  # noqa: E402

TINY_QWEN = REPO / "models" / "tiny-qwen"
quiet = lambda *_: None  # noqa: E731


def write_images(folder: Path, count: int, seed: int) -> None:
    """Seeded pictures with structure (gradients, blocks, noise) in a few sizes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        h, w = [(180, 260), (300, 200), (224, 224)][i % 3]
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([(x * rng.uniform(0.5, 2)) % 256, (y * rng.uniform(0.5, 2)) % 256, ((x + y) * rng.uniform(0.2, 1)) % 256], -1)
        blocks = rng.integers(0, 256, (h // 20 + 1, w // 20 + 1, 3)).repeat(20, 0).repeat(20, 1)[:h, :w]
        Image.fromarray(((base + blocks) / 2).astype(np.uint8)).save(folder / f"image-{i}.png")


def run_export(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        return export.main(list(argv)), err.getvalue()


class Corpus:
    """One precomputed train/val pair for the whole module (precompute is the slow part)."""
    tmp: tempfile.TemporaryDirectory
    root: Path

    @classmethod
    def get(cls) -> "Corpus":
        if not hasattr(cls, "root"):
            cls.tmp = tempfile.TemporaryDirectory()
            cls.root = Path(cls.tmp.name)
            write_images(cls.root / "images" / "train", 4, seed=1)
            write_images(cls.root / "images" / "val", 2, seed=2)
            cls.train_result = precompute(TINY_QWEN, cls.root / "images" / "train", 4, cls.root / "train", views=2, seed=3, shard_size=2, log=quiet)
            precompute(TINY_QWEN, cls.root / "images" / "val", 4, cls.root / "val", log=quiet)
        return cls()

    def config(self, out: str, **changes) -> TrainConfig:
        values = dict(features=self.root / "train", val_features=self.root / "val", out=self.root / out, preset="tiny",
                      epochs=2, batch=4, lr=1e-3, seed=1, log_every=0)
        values.update(changes)
        return TrainConfig(**values)


class Teaching(unittest.TestCase):
    def test_seed_crop_follows_torchvision(self):
        # 300x200: short side 224 -> 336x224 (long side truncated), centre crop from x = 56
        image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8))
        resized = image.resize((336, 224), Image.BICUBIC)
        self.assertEqual(np.asarray(seed_crop(image)).tolist(), np.asarray(resized.crop((56, 0, 280, 224))).tolist())

    def test_teacher_patches_in_processor_order(self):
        rgb = torch.randint(0, 256, (1, 56, 56, 3), dtype=torch.uint8)
        patches = teacher_patches(rgb, mean=(0, 0, 0), std=(1, 1, 1))
        self.assertEqual(list(patches.shape), [1, 16, 1176])
        # row 2 = merge block (0,0), patch (1,0): pixels y 14..27, x 0..13; columns (channel, time, y, x)
        patch = patches[0, 2].reshape(3, 2, 14, 14)
        expected = rgb[0, 14:28, 0:14].permute(2, 0, 1).float() / 255
        torch.testing.assert_close(patch[:, 0], expected)
        torch.testing.assert_close(patch[:, 1], expected)  # the still image repeated over time
        # row 4 = merge block (0,1), its first patch: x 28..41
        torch.testing.assert_close(patches[0, 4].reshape(3, 2, 14, 14)[:, 0], rgb[0, 0:14, 28:42].permute(2, 0, 1).float() / 255)

    def test_teacher_features_are_the_tower_after_l_blocks_and_the_tail_resumes_them(self):
        teacher = Teacher(TINY_QWEN, 4)
        patches = teacher_patches(torch.randint(0, 256, (2, 224, 224, 3), dtype=torch.uint8))
        features = teacher.features(patches)
        merged, captured = teacher.tower(patches[1], Grid(1, 16, 16), capture_layer=4)
        torch.testing.assert_close(features[1], captured)
        torch.testing.assert_close(teacher.resume(features), teacher.merged(patches))
        torch.testing.assert_close(teacher.merged(patches)[1], merged)


class Quantisation(unittest.TestCase):
    def test_round_trip_is_the_boards(self):
        x = torch.randn(2, 49, 64) * 3
        codes, scale, zero = quant.quantise(x)
        flat = x[0].flatten()
        s = np.float32((flat.max() - flat.min()) / 255)
        z = np.float32(-flat.min() / s)
        expected = np.clip(np.round(flat.numpy() / s + z), 0, 255).astype(np.uint8)
        self.assertEqual(codes[0].flatten().numpy().tolist(), expected.tolist())
        back = quant.round_trip(x)
        self.assertLessEqual(float((back - x).abs().amax(dim=(1, 2)).max() / scale.max()), 0.5 + 1e-3)
        self.assertEqual(float(quant.round_trip(torch.full((1, 49, 64), 2.5)).sub(2.5).abs().max()), 0.0)  # constant: scale 1

    def test_ste_forward_is_exact_and_gradient_passes(self):
        x = (torch.randn(2, 49, 64) * 3).requires_grad_()
        y = quant.simulate(x, "ste")
        torch.testing.assert_close(y.detach(), quant.round_trip(x))
        y.sum().backward()
        torch.testing.assert_close(x.grad, torch.ones_like(x))

    def test_uniform_noise_stays_within_half_a_step(self):
        x = torch.randn(3, 49, 64)
        scale, _ = quant.frame_step(x)
        noisy = quant.simulate(x, "uniform", torch.Generator().manual_seed(0))
        self.assertTrue(bool(((noisy - x).abs() <= scale / 2 + 1e-6).all()))
        self.assertGreater(float((noisy - x).abs().mean()), 0)


class Discriminator(unittest.TestCase):
    def test_the_seeds_layers(self):
        d = FeatureDiscriminator(64)
        convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv1d)]
        self.assertEqual([(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs], [(64, 512, 1), (512, 256, 1), (256, 128, 1), (128, 1, 1)])
        self.assertTrue(all(hasattr(c, "weight_orig") for c in convs))  # spectral norm
        self.assertEqual(list(d(torch.randn(3, 256, 64)).shape), [3])


class Precompute(unittest.TestCase):
    def test_shards_hold_the_teachers_features_and_a_second_run_does_nothing(self):
        corpus = Corpus.get()
        self.assertEqual((corpus.train_result.shards_written, corpus.train_result.rows_written), (2, 8))
        again = precompute(TINY_QWEN, corpus.root / "images" / "train", 4, corpus.root / "train", views=2, seed=3, shard_size=2, log=quiet)
        self.assertEqual((again.shards_written, again.shards_skipped), (0, 2))
        data = FeatureFolder(corpus.root / "train")
        shard = data.shard(0)
        self.assertEqual(shard["names"][:2], ["image-0.png#0", "image-0.png#1"])
        teacher = Teacher(TINY_QWEN, 4)
        expected = teacher.features(teacher_patches(shard["crops"][:1]))
        torch.testing.assert_close(shard["features"][:1].float(), expected, atol=2e-2, rtol=2e-3)  # stored as float16
        self.assertFalse(torch.equal(shard["crops"][0], shard["crops"][1]), "view 1 is augmented")

    def test_workers_split_the_shards(self):
        corpus = Corpus.get()
        out = corpus.root / "split-work"
        first = precompute(TINY_QWEN, corpus.root / "images" / "train", 4, out, shard_size=1, shard_index=0, shard_count=2, log=quiet)
        self.assertEqual(sorted(p.name for p in out.glob("shard-*.pt")), ["shard-00000.pt", "shard-00002.pt"])
        second = precompute(TINY_QWEN, corpus.root / "images" / "train", 4, out, shard_size=1, shard_index=1, shard_count=2, log=quiet)
        self.assertEqual((first.shards_written, second.shards_written, second.shards_total), (2, 2, 4))
        self.assertEqual(len(FeatureFolder(out)), 4)

    def test_other_settings_are_refused(self):
        corpus = Corpus.get()
        with self.assertRaisesRegex(PrecomputeError, "splitLayer"):
            precompute(TINY_QWEN, corpus.root / "images" / "train", 3, corpus.root / "train", views=2, seed=3, shard_size=2, log=quiet)

    def test_missing_folder_is_one_line_and_exit_1(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = train_cli.main(["precompute", "--qwen", str(TINY_QWEN), "--images", "/nonexistent", "--split-layer", "4", "--out", "/tmp/x"])
        self.assertEqual(code, 1)
        self.assertEqual(len(err.getvalue().strip().splitlines()), 1)
        self.assertIn("/nonexistent", err.getvalue())


class Training(unittest.TestCase):
    def test_steps_lower_the_loss_and_the_checkpoint_exports(self):
        corpus = Corpus.get()
        result = train(corpus.config("warm", epochs=4), log=quiet)
        losses = [s["mse"] for s in result["steps"]]
        self.assertEqual(result["step"], 8)
        self.assertLess(sum(losses[-2:]) / 2, sum(losses[:2]) / 2)
        self.assertEqual(len(result["history"]), 4)
        for metrics in result["history"]:
            self.assertGreaterEqual(metrics["val_cosine"], -1)
        best = corpus.root / "warm" / "best.pt"
        data = load_training(best)
        self.assertEqual(sorted(data["bottleneck_state_dict"]), ["decoder.weight", "encoder.weight"])
        self.assertEqual(data["args"].split_layer, 4)
        out = corpus.root / "exported"
        code, err = run_export("--checkpoint", str(best), "--split-layer", "4", "--rescale", "0", "1", "--out", str(out))
        self.assertEqual(code, 0, err)
        manifest = json.loads((out / "manifest.json").read_text())
        self.assertEqual(manifest["source"]["kind"], "checkpoint")
        # the seed's split files, read by export.py as the seed's are
        edge_file, cloud_file = split(best, corpus.root / "split")
        code, err = run_export("--edge-checkpoint", str(edge_file), "--cloud-checkpoint", str(cloud_file), "--split-layer", "4",
                               "--rescale", "0", "1", "--skip-parity", "--out", str(corpus.root / "exported-split"))
        self.assertEqual(code, 0, err)
        self.assertEqual((corpus.root / "exported-split" / "edge.onnx").read_bytes(), (out / "edge.onnx").read_bytes())

    def test_resume_continues_from_the_saved_step(self):
        corpus = Corpus.get()
        whole = train(corpus.config("whole", max_steps=3, quant_noise="ste"), log=quiet)
        first = train(corpus.config("parts", max_steps=1, quant_noise="ste"), log=quiet)
        self.assertEqual(load_training(corpus.root / "parts" / "latest.pt")["step"], 1)
        rest = train(corpus.config("parts", max_steps=3, quant_noise="ste", resume=True), log=quiet)
        self.assertEqual([s["step"] for s in first["steps"] + rest["steps"]], [1, 2, 3])
        for a, b in zip(whole["steps"], first["steps"] + rest["steps"]):
            self.assertAlmostEqual(a["loss"], b["loss"], places=4)
        w, p = load_training(corpus.root / "whole" / "latest.pt"), load_training(corpus.root / "parts" / "latest.pt")
        for key, value in w["upsampler_state_dict"].items():
            torch.testing.assert_close(p["upsampler_state_dict"][key], value)

    def test_uniform_noise_and_the_gan_phase_run(self):
        corpus = Corpus.get()
        train(corpus.config("u", epochs=1, quant_noise="uniform", bottleneck_dim=32, bottleneck_method="mlp"), log=quiet)
        args = load_training(corpus.root / "u" / "best.pt")["args"]
        self.assertEqual((args.bottleneck_dim, args.bottleneck_method, args.quant_noise), (32, "mlp", "uniform"))
        result = train(corpus.config("gan", phase="gan", epochs=1, init=corpus.root / "u" / "best.pt", bottleneck_dim=None), log=quiet)
        self.assertTrue(all({"adv", "d_loss"} <= set(s) for s in result["steps"]))
        data = load_training(corpus.root / "gan" / "latest.pt")
        self.assertIn("discriminator_state_dict", data)
        _, cloud_file = split(corpus.root / "gan" / "latest.pt", corpus.root / "gan-split")
        self.assertIn("discriminator_state_dict", torch.load(cloud_file))

    def test_a_preset_that_does_not_fit_the_teacher_is_refused(self):
        corpus = Corpus.get()
        with self.assertRaisesRegex(ValueError, "width 1280.*64"):
            train(corpus.config("full", preset="full"), log=quiet)


if __name__ == "__main__":
    unittest.main()
