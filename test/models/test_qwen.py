"""Qwen2.5-VL resume tooling: grid geometry by hand, teacher features at L by the seed's rule against a
straightforward run, the tail from L (the seed's count) against the whole tower (PyTorch and onnxruntime-node), strict weight loading, the multimodal rotary rule, the tiny stand-in folder.

Run with Debian's python3 and the pinned node on PATH (`make test-python` sets both up).
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import unittest
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "models"))

import qwen  # noqa: E402
from qwen_export import geometry  # noqa: E402
from qwen_export.geometry import Grid  # noqa: E402
from qwen_export.rope_index import rope_index  # noqa: E402
from qwen_export.safetensors_io import read_folder, read_tensors, write_file  # noqa: E402
from qwen_export.text_decoder import load_language_model  # noqa: E402
from qwen_export.tiny_fixture import TINY_VISION  # noqa: E402
from qwen_export.vision_config import QwenFolderError  # noqa: E402
from qwen_export.teacher import teacher_features  # noqa: E402
from qwen_export.vision_tail import VisionEncoder, VisionTail, export_encoder, export_tail, write_description  # noqa: E402
from qwen_export.vision_tower import load_tower  # noqa: E402
from splitoculo_export.exporting import check_parity  # noqa: E402

TINY_QWEN = REPO / "models" / "tiny-qwen"
NEG = float("-inf")


class Fixed(nn.Module):
    """Stands in for a network whose output was computed elsewhere (check_parity runs net(example))."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = output

    def forward(self, _example: torch.Tensor) -> torch.Tensor:
        return self.output


class GeometryByHand(unittest.TestCase):
    def test_patch_positions_follow_merge_blocks(self):
        positions = geometry.patch_positions(Grid(1, 4, 4), 2).tolist()
        self.assertEqual(positions[:8], [[0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [0, 3], [1, 2], [1, 3]])
        self.assertEqual(positions[8:12], [[2, 0], [2, 1], [3, 0], [3, 1]])

    def test_rotary_angles_by_hand(self):
        # head_dim 8: rotary dim 4, inverse frequencies 1 and 1/10000^(2/4) = 1/100, rows' half then columns'
        angles = geometry.rotary_angles(Grid(1, 4, 4), head_dim=8, merge=2)
        self.assertEqual(list(angles.shape), [16, 4])
        torch.testing.assert_close(angles[3], torch.tensor([1.0, 0.01, 1.0, 0.01]))
        torch.testing.assert_close(angles[6], torch.tensor([1.0, 0.01, 2.0, 0.02]))  # patch (1, 2)
        cos, sin = geometry.rotary_cos_sin(angles)
        torch.testing.assert_close(cos[6], torch.cos(torch.tensor([1.0, 0.01, 2.0, 0.02] * 2)))
        torch.testing.assert_close(sin[0], torch.zeros(8))

    def test_window_index_with_padding_windows(self):
        # window 56 px = 2 merge blocks a side; llm grid 2x4 -> windows {0,1,4,5} and {2,3,6,7}, the rest padding
        index, bounds = geometry.window_index(Grid(1, 4, 8), merge=2, window_size=56, patch_size=14)
        self.assertEqual(index.tolist(), [0, 1, 4, 5, 2, 3, 6, 7])
        self.assertEqual(bounds, [0, 16, 32])

    def test_window_index_with_partial_windows(self):
        # llm grid 3x3 in 2x2 windows: full, a column of 2, a row of 2, a single block
        index, bounds = geometry.window_index(Grid(1, 6, 6), merge=2, window_size=56, patch_size=14)
        self.assertEqual(index.tolist(), [0, 1, 3, 4, 2, 5, 6, 7, 8])
        self.assertEqual(bounds, [0, 16, 24, 32, 36])

    def test_qwen_224_grid_has_four_windows_of_64(self):
        index, bounds = geometry.window_index(Grid(1, 16, 16), merge=2, window_size=112, patch_size=14)
        self.assertEqual(bounds, [0, 64, 128, 192, 256])
        self.assertEqual(index[:16].tolist(), [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27])

    def test_block_diagonal_mask(self):
        mask = geometry.block_diagonal_mask([0, 2, 3])
        self.assertEqual(mask.tolist(), [[0.0, 0.0, NEG], [0.0, 0.0, NEG], [NEG, NEG, 0.0]])
        self.assertEqual(geometry.frame_bounds(Grid(2, 4, 4)), [0, 16, 32])

    def test_window_order_round_trip(self):
        index, _ = geometry.window_index(Grid(1, 6, 6), merge=2, window_size=56, patch_size=14)
        rows = torch.arange(36).unsqueeze(1).float()
        moved = geometry.to_window_order(rows, index, 4)
        self.assertEqual(moved[8:12, 0].tolist(), [12.0, 13.0, 14.0, 15.0])  # third in window order: block 3
        torch.testing.assert_close(geometry.to_processor_order(moved, index, 4), rows)

    def test_odd_grid_refused(self):
        with self.assertRaisesRegex(ValueError, "even h, w"):
            Grid(1, 5, 4)


def straightforward_features(tower, pixels: torch.Tensor, grid: Grid, layer: int) -> torch.Tensor:
    """Hidden states after `layer` blocks computed without any reordering: every patch stays in processor
    order, its (row, column), window and rotary angles derived here by hand from the processor's layout.
    Attention only sees masks and per-patch rotary rows, so this equals the windowed run if, and only if,
    the window order, its inverse and the rotary reorder are right."""
    c = tower.config
    if layer == -1:
        return pixels
    merge, side = c.spatial_merge_size, c.window_size // c.spatial_merge_size // c.patch_size
    rows, cols, windows = [], [], []
    for k in range(grid.patches):  # one frame: merge blocks row-major, the 2x2 patches of a block row-major
        block_row, block_col = divmod(k // (merge * merge), grid.w // merge)
        rows.append(block_row * merge + (k % (merge * merge)) // merge)
        cols.append(block_col * merge + k % merge)
        windows.append((block_row // side, block_col // side))
    dim = c.head_dim // 2
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    angles = torch.cat([torch.tensor(rows, dtype=torch.float32)[:, None] * inv_freq,
                        torch.tensor(cols, dtype=torch.float32)[:, None] * inv_freq], dim=-1)
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    same_window = torch.tensor([[a == b for b in windows] for a in windows])
    window_mask = torch.zeros(grid.patches, grid.patches).masked_fill(~same_window, NEG)
    full_mask = torch.zeros(grid.patches, grid.patches)
    x = tower.patch_embed(pixels).unsqueeze(0)
    for number in range(layer):
        x = tower.blocks[number](x, full_mask if number in c.fullatt_block_indexes else window_mask, cos, sin)
    return x[0]


class TailMatchesTower(unittest.TestCase):
    """Split layer L as the seed counts it: features after L blocks, the tail resumes at block L."""

    # 0: the patch embedding's output; 3 and 4: just before and just after full-attention block 3 (the tail
    # starts with, or just after, a full-attention block); 7, 8: the same around the last block (8: merger only);
    # -1: pixel patches (the tail embeds them).
    LAYERS = (-1, 0, 3, 4, 7, 8)

    @classmethod
    def setUpClass(cls):
        cls.tower = load_tower(TINY_QWEN)
        cls.grid = Grid(1, 16, 16)
        generator = torch.Generator().manual_seed(3)
        cls.pixels = torch.randn(cls.grid.patches, 3 * 2 * 14 * 14, generator=generator)
        with torch.no_grad():
            cls.whole = cls.tower(cls.pixels, cls.grid)

    def test_full_attention_where_the_test_layers_assume_it(self):
        self.assertEqual(TINY_VISION.fullatt_block_indexes, (3, 7))
        self.assertEqual(TINY_VISION.depth, 8)

    def test_teacher_features_follow_the_seeds_rule(self):
        # The seed's literal rule (teacher.py) against a run that never leaves processor order.
        with torch.no_grad():
            for layer in self.LAYERS:
                expected = straightforward_features(self.tower, self.pixels, self.grid, layer)
                actual = teacher_features(self.tower, self.pixels, self.grid, layer)
                self.assertEqual(list(actual.shape), [256, 1176 if layer == -1 else TINY_VISION.hidden_size], f"L={layer}")
                torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5, msg=f"L={layer}")
            batch = torch.stack([self.pixels, -self.pixels])
            batched = teacher_features(self.tower, batch, self.grid, 4)
            torch.testing.assert_close(batched[1], straightforward_features(self.tower, -self.pixels, self.grid, 4), rtol=0, atol=1e-5)

    def test_teacher_features_differ_by_one_block_between_layers(self):
        # Guards the off-by-one the manifest once had: layer 4 is not layer 5 (nor 3).
        with torch.no_grad():
            four, five = (teacher_features(self.tower, self.pixels, self.grid, layer) for layer in (4, 5))
        self.assertGreater((four - five).abs().max().item(), 1e-2)

    def test_tail_from_layer_equals_the_towers_own_forward(self):
        with torch.no_grad():
            for layer in self.LAYERS:
                merged, captured = self.tower(self.pixels, self.grid, capture_layer=layer)
                torch.testing.assert_close(merged, self.whole, rtol=0, atol=0)
                torch.testing.assert_close(captured, teacher_features(self.tower, self.pixels, self.grid, layer), rtol=0, atol=1e-5)
                tail = VisionTail(self.tower, layer, self.grid).eval()
                resumed = tail(captured.unsqueeze(0))[0]
                torch.testing.assert_close(resumed, self.whole, rtol=0, atol=1e-5, msg=f"L={layer}")
                # One block too many (the old convention) is far off: the test can tell.
                if 0 <= layer < TINY_VISION.depth:
                    skipped = VisionTail(self.tower, layer + 1, self.grid).eval()(captured.unsqueeze(0))[0]
                    self.assertGreater((skipped - self.whole).abs().max().item(), 1e-3, f"L={layer}")

    def test_onnx_tail_equals_tower_forward_for_three_layers(self):
        with tempfile.TemporaryDirectory() as tmp:
            for layer in (-1, 3, 8):
                with torch.no_grad():
                    features = teacher_features(self.tower, self.pixels, self.grid, layer)
                path = Path(tmp) / f"tail{layer}.onnx"
                export_tail(VisionTail(self.tower, layer, self.grid).eval(), path)
                result = check_parity(Fixed(self.whole.unsqueeze(0)), features.unsqueeze(0), path)
                self.assertLess(result.max_abs_error, 1e-4, f"L={layer}")
                self.assertGreater(result.cosine, 0.99999, f"L={layer}")

    def test_vision_encoder_equals_tower_from_pixels_in_pytorch_and_onnx(self):
        # The JPEG path: the whole tower from processor-order pixel patches, batched.
        encoder = VisionEncoder(self.tower, self.grid).eval()
        with torch.no_grad():
            expected = self.tower(self.pixels, self.grid)
            torch.testing.assert_close(encoder(self.pixels.unsqueeze(0))[0], expected, rtol=0, atol=1e-5)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "encoder.onnx"
            export_encoder(encoder, path)
            result = check_parity(Fixed(expected.unsqueeze(0)), self.pixels.unsqueeze(0), path)
            self.assertLess(result.max_abs_error, 1e-4)
            self.assertGreater(result.cosine, 0.99999)

    def test_tail_with_external_data_runs(self):
        with tempfile.TemporaryDirectory() as tmp:
            tail = VisionTail(self.tower, 4, self.grid).eval()
            path = Path(tmp) / "tail.onnx"
            export_tail(tail, path, external_data=True)
            self.assertTrue((Path(tmp) / "tail.onnx.data").exists())
            self.assertEqual(sorted(p.name for p in Path(tmp).iterdir()), ["tail.onnx", "tail.onnx.data"])
            example = torch.randn(2, 256, TINY_VISION.hidden_size)
            self.assertLess(check_parity(tail, example, path).max_abs_error, 1e-4)

    def test_unknown_layer_is_refused(self):
        for layer in (-2, TINY_VISION.depth + 1):
            with self.assertRaisesRegex(QwenFolderError, f"split layer {layer}: this tower has 8 blocks; expected -1"):
                VisionTail(self.tower, layer, self.grid)
            with self.assertRaisesRegex(ValueError, f"split layer {layer}: expected -1"):
                teacher_features(self.tower, self.pixels, self.grid, layer)
        with self.assertRaisesRegex(ValueError, r"pixel patches of shape \[256, 64\]: expected \[256, 1176\]"):
            teacher_features(self.tower, torch.zeros(256, 64), self.grid, 4)

    def test_tail_sidecar_states_the_convention(self):
        with tempfile.TemporaryDirectory() as tmp:
            for layer in (-1, 4):
                tail = VisionTail(self.tower, layer, self.grid)
                path = Path(tmp) / f"vision_tail.L{layer}.1x16x16.onnx"
                write_description(path, tail, layer, self.grid, {})
                description = json.loads(path.with_suffix(".json").read_text())
                self.assertEqual(description["splitLayerConvention"], "after-L-blocks")
                self.assertEqual(description["formatVersion"], 2)
                self.assertEqual(description["firstBlock"], max(layer, 0))
                self.assertEqual(description["featureWidth"], 1176 if layer == -1 else 64)
                self.assertEqual(description["patchEmbedding"], layer == -1)


class FolderReading(unittest.TestCase):
    def copy_fixture(self, tmp: Path, **config_changes) -> Path:
        folder = tmp / "qwen"
        folder.mkdir()
        config = json.loads((TINY_QWEN / "config.json").read_text())
        config.update(config_changes)
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "model.safetensors").write_bytes((TINY_QWEN / "model.safetensors").read_bytes())
        return folder

    def test_weights_that_do_not_fit_the_config_are_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            config = json.loads((TINY_QWEN / "config.json").read_text())
            config["vision_config"]["depth"] = 9
            folder = self.copy_fixture(Path(tmp), vision_config=config["vision_config"])
            with self.assertRaisesRegex(QwenFolderError, r"missing \['blocks\.8\.attn\.proj\.bias"):
                load_tower(folder)

    def test_missing_weights_and_config_are_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaisesRegex(QwenFolderError, "config.json: not found"):
                load_tower(Path(tmp))
            folder = self.copy_fixture(Path(tmp))
            (folder / "model.safetensors").unlink()
            with self.assertRaisesRegex(QwenFolderError, "model.safetensors"):
                load_tower(folder)

    def test_wrong_model_type_is_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaisesRegex(QwenFolderError, "model_type is 'qwen2_vl', expected 'qwen2_5_vl'"):
                load_tower(self.copy_fixture(Path(tmp), model_type="qwen2_vl"))

    def test_sharded_folder_reads_like_one_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_file(folder / "a.safetensors", {"visual.x": torch.ones(2, 3)}, torch.bfloat16)
            write_file(folder / "b.safetensors", {"model.y": torch.arange(4).float()}, torch.float16)
            (folder / "model.safetensors.index.json").write_text(json.dumps(
                {"weight_map": {"visual.x": "a.safetensors", "model.y": "b.safetensors"}}))
            found = read_folder(folder, ("visual.", "model."))
            self.assertEqual(sorted(found), ["x", "y"])
            self.assertEqual(found["x"].dtype, torch.float32)
            torch.testing.assert_close(found["y"], torch.tensor([0.0, 1.0, 2.0, 3.0]))
            self.assertEqual(sorted(read_tensors(folder / "a.safetensors", lambda n: True)), ["visual.x"])

    def test_cli_reports_folder_errors_and_exits_non_zero(self):
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertEqual(qwen.main(["tail", "--qwen", tmp, "--split-layer", "4"]), 1)
        self.assertIn("config.json: not found", err.getvalue())


class MultimodalPositions(unittest.TestCase):
    def test_rope_index_for_one_image_by_hand(self):
        image = 7
        ids = [1, 2, image, image, image, image, 3, 4]  # grid 1x4x4 -> 2x2 merged tokens
        positions = rope_index(ids, image, [1, 4, 4], merge=2).tolist()
        self.assertEqual(positions[0], [0, 1, 2, 2, 2, 2, 4, 5])  # temporal
        self.assertEqual(positions[1], [0, 1, 2, 2, 3, 3, 4, 5])  # rows
        self.assertEqual(positions[2], [0, 1, 2, 3, 2, 3, 4, 5])  # columns

    def test_rope_index_refuses_a_wrong_pad_count(self):
        with self.assertRaisesRegex(ValueError, "one run of 4 image tokens"):
            rope_index([1, 7, 7, 7, 2], 7, [1, 4, 4], merge=2)


class LanguageModel(unittest.TestCase):
    def test_cache_gives_the_same_logits_as_a_full_pass(self):
        model = load_language_model(TINY_QWEN)
        c = model.config
        embeds = torch.randn(1, 6, c.hidden_size, generator=torch.Generator().manual_seed(5))
        positions = torch.arange(6).repeat(3, 1, 1)
        empty = [torch.zeros(1, c.num_key_value_heads, 0, c.head_dim) for _ in range(2 * c.num_hidden_layers)]
        with torch.no_grad():
            full, *_ = model(embeds, torch.ones(1, 6, dtype=torch.int64), positions, *empty)
            _, *past = model(embeds[:, :4], torch.ones(1, 4, dtype=torch.int64), positions[:, :, :4], *empty)
            step, *_ = model(embeds[:, 4:], torch.ones(1, 6, dtype=torch.int64), positions[:, :, 4:], *past)
        torch.testing.assert_close(step, full[:, 4:], rtol=1e-4, atol=1e-4)


if __name__ == "__main__":
    unittest.main()
