"""`vnaw export`: ONNX graph of encoder + temporal model matches PyTorch (fp32)."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from helpers.tiny_run import make_run
from vnaw.inference.export import export_onnx, max_abs_diff
from vnaw.models.artifact import load_video_model


@pytest.mark.slow
def test_onnx_matches_pytorch_with_other_batch_and_length(tmp_path):
    model, _ = load_video_model(make_run(tmp_path / "run"))
    path = export_onnx(model, tmp_path / "model.onnx")
    # Traced at (2, 5); checked at (3, 9) with frames masked out.
    assert max_abs_diff(model, path, batch=3, length=9) <= 1e-4
