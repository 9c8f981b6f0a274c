"""Writing ONNX files that may outgrow protobuf's 2 GB limit.

torch.onnx.export spills the weights of a model over 2 GB into one file per tensor beside the graph;
these helpers export into a scratch folder and then place one graph file plus (when large, or when asked)
one weights file `<name><data_suffix>` at the destination, leaving nothing else behind.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

EXTERNAL_ABOVE_BYTES = 1_800_000_000


def export_and_place(export: Callable[[Path], None], target: Path, data_suffix: str, external: bool | None = None) -> None:
    """Runs export(scratch_path), then moves the result to target, consolidating spilled weights."""
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        path = Path(scratch) / target.name
        export(path)
        spilled = [p for p in Path(scratch).iterdir() if p != path]
        weights = path.stat().st_size + sum(p.stat().st_size for p in spilled)
        if external is None:
            external = bool(spilled) or weights > EXTERNAL_ABOVE_BYTES
        data = target.parent / (target.name + data_suffix)
        if external:
            model = onnx.load(str(path))  # gathers the spilled tensors
            data.unlink(missing_ok=True)
            onnx.save_model(model, str(target), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data.name, size_threshold=1024)
        else:
            data.unlink(missing_ok=True)
            shutil.move(str(path), target)
