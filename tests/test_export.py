"""`vnaw export`: ONNX graph of encoder + temporal model matches PyTorch (fp32)."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from _tiny_run import make_run
from vnaw.export import export_onnx, max_abs_diff


def test_onnx_matches_pytorch_with_other_batch_and_length(tmp_path):
    run = make_run(tmp_path / "run")
    path = export_onnx(run, tmp_path / "model.onnx")
    # Traced at (2, 5); checked at (3, 9) with frames masked out.
    assert max_abs_diff(run, path, batch=3, length=9) <= 1e-4
