"""A fresh `vnaw predict clip.mp4 --out D` in a subprocess prints a progress bar and one summary
line, and nothing else: no native library's log line, no warning (issue 15)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")


def _run(args: list[str], cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    for key in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL"):
        env.pop(key, None)  # as a user's shell has it
    cmd = [sys.executable, "-c", "import sys; from vnaw.cli import main; sys.exit(main())", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_predict_prints_a_bar_and_one_line(tmp_path):
    from helpers.face_video import write_video

    write_video(tmp_path / "clip.mp4", 20)
    r = _run(["predict", "clip.mp4", "--out", "D"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    # tqdm redraws its bar with carriage returns; what is left once the bars are taken out:
    lines = [ln for ln in re.split(r"[\r\n]", r.stderr) if ln.strip()]
    bar = re.compile(r"^\s*(clip\.mp4: )?\s*\d+%\|.*frame/s\]\s*$")
    others = [ln for ln in lines if not bar.match(ln)]
    assert len(others) == 1, others
    assert others[0].startswith("predict: 1 video(s), 20 frames") and "D/clip.csv" in others[0]
    assert any(bar.match(ln) for ln in lines)  # there was a progress bar
    for noise in ("W0000", "INFO:", "absl", "WARNING", "Traceback"):
        assert noise not in r.stderr
    assert (tmp_path / "D" / "clip.csv").is_file()


@pytest.mark.slow
def test_verbose_shows_the_native_log(tmp_path):
    from helpers.face_video import write_video

    write_video(tmp_path / "clip.mp4", 3)
    r = _run(["predict", "clip.mp4", "--out", "D", "-v", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no temporal model" in r.stderr  # the model used
