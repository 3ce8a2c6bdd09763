"""Two `vnaw predict` processes on one output folder: both finish correctly, or one refuses at
once naming the folder and the other's pid (issue 14, item 2). Slow: two fresh processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")


@pytest.mark.slow
def test_two_predicts_on_one_output(tmp_path):
    from helpers.face_video import write_video

    write_video(tmp_path / "a.mp4", 60)
    write_video(tmp_path / "b.mp4", 60, faces=2)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    main = "import sys; from vnaw.cli import main; sys.exit(main())"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", main, "predict", name, "--out", "D", "--quiet"],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a.mp4", "b.mp4")
    ]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    refused = [err for rc, err in results if rc == 2]
    assert all(rc in (0, 2) for rc, _ in results), results
    assert len(refused) <= 1
    for err in refused:
        assert "another vnaw is writing to D" in err and "pid" in err
    for (rc, _), name, frames in zip(results, ("a", "b"), (60, 120), strict=True):
        if rc == 0:  # its table is whole: every frame of every face
            assert len(pd.read_csv(tmp_path / "D" / f"{name}.csv")) == frames
    assert not list((tmp_path / "D").glob(".*.tmp-*"))  # no temporary file left
