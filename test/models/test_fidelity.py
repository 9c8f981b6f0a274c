"""models/fidelity.py: the deployment's rescale as the worker does it, the measurement's internal
consistency on real images with the tiny models, and bad input as one line with exit 1.

Run with Debian's python3 and the pinned node on PATH (`make test-python`).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "models"))

import fidelity  # noqa: E402
from training.teacher import Teacher  # noqa: E402

TINY_QWEN = REPO / "models" / "tiny-qwen"
FRAMES = REPO / "test" / "fixtures" / "frames"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = fidelity.main(list(argv))
        except SystemExit as exit_:
            code = int(exit_.code)
    return code, out.getvalue(), err.getvalue()


class Rescale(unittest.TestCase):
    def test_standardises_each_sample_with_the_sample_std_then_takes_the_target(self):
        x = torch.randn(2, 256, 64) * 3 + 1
        y = fidelity.rescale(x, (-0.5, 2.0))
        for sample in y:
            self.assertAlmostEqual(float(sample.mean()), -0.5, places=4)
            self.assertAlmostEqual(float(sample.flatten().std(unbiased=True)), 2.0, places=4)
        self.assertIs(fidelity.rescale(x, None), x)


class Measurement(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        images = Path(cls.tmp.name) / "images"
        images.mkdir()
        for name in ("coffee.png", "horse.png", "truncated.jpg"):
            shutil.copy(FRAMES / name, images / name)
        cls.images = images
        cls.out = Path(cls.tmp.name) / "fidelity.json"
        cls.code, cls.stdout, cls.stderr = run("--qwen", str(TINY_QWEN), "--images", str(images), "--preset", "tiny",
                                               "--manifest", str(REPO / "models" / "tiny"), "--label", "random", "--out", str(cls.out))
        import json
        cls.result = json.loads(cls.out.read_text()) if cls.out.exists() else None

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_every_readable_image_is_measured_and_the_broken_one_named(self):
        self.assertEqual(self.code, 0, self.stderr)
        self.assertEqual([r["image"] for r in self.result["perImage"]], ["coffee.png", "horse.png"])
        self.assertEqual(len(self.result["skipped"]), 1)
        self.assertIn("truncated.jpg", self.result["skipped"][0])

    def test_counts_and_summaries_follow_the_rows(self):
        rows, summary = self.result["perImage"], self.result["summary"]
        self.assertEqual(summary["answerAgreement"], {"agree": sum(r["agree"] for r in rows), "of": 2})
        for row in rows:
            self.assertEqual(row["agree"], row["neuralTokens"] == row["wholeTokens"])
            self.assertTrue(-1 <= row["featureCosine"] <= 1 and -1 <= row["mergedCosine"] <= 1)
            self.assertGreater(len(row["wholeTokens"]), 0)
        self.assertAlmostEqual(summary["mergedCosine"]["min"], min(r["mergedCosine"] for r in rows))
        self.assertIn(f"answers equal to the whole-image path: {summary['answerAgreement']['agree']}/2", self.stdout)

    def test_the_whole_path_is_the_towers_answer_input(self):
        # the oracle: features that are the teacher's own give the whole tower's merged tokens exactly
        teacher = Teacher(TINY_QWEN, 4)
        patches = torch.randn(1, 256, 1176)
        torch.testing.assert_close(teacher.resume(fidelity.rescale(teacher.features(patches), None)), teacher.merged(patches))

    def test_bad_input_is_one_line_and_exit_1(self):
        code, _, err = run("--qwen", str(TINY_QWEN), "--images", str(self.images), "--preset", "tiny", "--split-layer", "4")
        self.assertEqual(code, 1)
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("--rescale", err)
        code, _, err = run("--qwen", "/nonexistent", "--images", str(self.images), "--preset", "tiny", "--split-layer", "4", "--no-rescale")
        self.assertEqual(code, 1)
        self.assertIn("/nonexistent", err)
        self.assertEqual(len(err.strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
