"""`vnaw export`: ONNX graph of encoder + temporal model matches PyTorch (fp32)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from helpers.tiny_run import make_run
from vnaw.inference.export import export_onnx, max_abs_diff
from vnaw.models.artifact import load_video_model


@pytest.mark.slow
def test_onnx_matches_pytorch_with_other_batch_and_length(tmp_path):
    model, _ = load_video_model(make_run(tmp_path / "run"))
    import onnx

    path = export_onnx(model, tmp_path / "model.onnx")  # opset 17 asked (the default)
    graph = onnx.load(str(path))
    assert [o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")] == [17]
    meta = {p.key: json.loads(p.value) for p in graph.metadata_props}
    assert meta["input_size"] == model.meta.input_size and meta["clip_length"] == model.clip_length
    # Traced at (2, 5); checked at (3, 9) with frames masked out.
    assert max_abs_diff(model, path, batch=3, length=9) <= 1e-4


@pytest.mark.slow
def test_export_cli_is_quiet_on_success(tmp_path):
    """No traceback, no converter or exporter chatter: one line naming the file and its opset."""
    run = make_run(tmp_path / "run")
    out = tmp_path / "m.onnx"
    main = "import sys; from vnaw.cli import main; sys.exit(main())"
    cmd = [sys.executable, "-c", main, "export", "--model", str(run), "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    assert r.stdout.startswith(f"export: wrote {out} (opset 17)")


@pytest.mark.slow
def test_an_exported_run_predicts_like_the_run_without_torch(tmp_path):
    """`vnaw predict --model X.onnx` (encoder and temporal graphs in ONNX Runtime) writes the
    probabilities the run itself gives, on a clip longer than one window (P = 8 here)."""
    from helpers.face_video import write_video
    from vnaw.inference.analyze import load_model
    from vnaw.inference.export import part_paths
    from vnaw.inference.predict import predict_file
    from vnaw.models.onnx_video import OnnxVideoModel

    run = make_run(tmp_path / "run")
    model, _ = load_video_model(run)
    out = export_onnx(model, tmp_path / "m.onnx")
    assert all(p.is_file() for p in part_paths(out))
    onnx_model = load_model(str(out), "cpu")
    assert isinstance(onnx_model, OnnxVideoModel)
    assert onnx_model.clip_length == model.clip_length
    clip = write_video(tmp_path / "clip.mp4", 3 * model.clip_length + 1)
    want = predict_file(clip, model.eval())
    got = predict_file(clip, onnx_model)
    assert [t.name for t in got.tracks] == [t.name for t in want.tracks]
    for a, b in zip(want.tracks, got.tracks, strict=True):
        np.testing.assert_array_equal(a.face_found, b.face_found)
        np.testing.assert_allclose(b.probs, a.probs, atol=1e-4)
