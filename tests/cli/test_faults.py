"""The last faults: a full disk under `faces`, unique temporary names, a lock on `export`,
report links and templating, `faces --quiet`, a newline in a file name, `train` over a run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.full_disk import fill_disk
from vnaw.cli import main
from vnaw.files import atomic_path, atomic_write, one_line, tmp_name


def test_temporary_names_are_unique_and_keep_the_extension(tmp_path):
    target = tmp_path / "x_timeline.png"
    names = {tmp_name(target, ".png") for _ in range(50)}
    assert len(names) == 50
    for n in names:
        assert n.parent == tmp_path and n.name.startswith(f".x_timeline.png.tmp-{os.getpid()}-")
        assert n.suffix == ".png" and not n.name.endswith(".png.png")
    seen = []
    with atomic_path(tmp_path / "m.onnx") as tmp:
        seen.append(tmp.name)
        tmp.write_bytes(b"onnx")
    assert seen[0].startswith(f".m.onnx.tmp-{os.getpid()}-") and seen[0].endswith(".onnx")
    assert not seen[0].endswith(".onnx.onnx")
    assert (tmp_path / "m.onnx").read_bytes() == b"onnx"

    def look(f):
        seen.append(Path(f.name).name)
        f.write(b"x")

    atomic_write(tmp_path / "t.csv", look)
    assert seen[1].startswith(f".t.csv.tmp-{os.getpid()}-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "t.csv"]


def test_one_line_escapes_line_breaks():
    assert one_line("a\nb\rc") == "a\\nb\\rc"
    assert one_line("plain") == "plain"


def test_export_takes_a_lock(tmp_path, capsys):
    pytest.importorskip("torch")  # the training stack
    from helpers.tiny_run import make_run

    run = make_run(tmp_path / "run")
    out = tmp_path / "m.onnx"
    code = (
        "import time; from vnaw.files import output_lock\n"
        f"with output_lock({str(tmp_path)!r}, 'export-m.onnx'):\n"
        "    print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["export", "--model", str(run), "--out", str(out)]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"(pid {holder.pid})" in err and str(tmp_path) in err
    assert not out.exists()


def test_train_over_an_earlier_run_needs_resume_or_overwrite(tmp_path, capsys):
    pytest.importorskip("torch")  # the training stack
    from helpers.tiny_run import make_run

    run = make_run(tmp_path / "run")
    before = (run / "model.safetensors").read_bytes()
    assert main(["train", f"out_dir={run}", "data.root=nowhere"]) == 2
    err = capsys.readouterr().err
    assert f"{run}: holds a run (model.safetensors)" in err and "--overwrite" in err
    assert (run / "model.safetensors").read_bytes() == before  # untouched
    assert main(["train", f"out_dir={run}", "--resume", "--overwrite"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    # --overwrite goes past the check (and fails further on, on the missing data root).
    assert main(["train", f"out_dir={run}", "data.root=nowhere", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "holds a run" not in err and "nowhere" in err


def test_report_links_are_url_encoded_and_file_names_are_not_placeholders(tmp_path, monkeypatch):
    from vnaw.inference import report

    video = tmp_path / "a #1?%.mp4"
    video.write_bytes(b"\x00" * 100)
    monkeypatch.setattr(report, "EMBED_LIMIT", 10)  # linked, not embedded
    tag = report._video_tag(video, tmp_path / "page.html")
    assert 'src="a%20%231%3F%25.mp4"' in tag, tag
    page = report.render("__DATA__ __TITLE__", "x", tag, "<table></table>", {"v": "__NOTE__"})
    assert "<h1>__DATA__ __TITLE__</h1>" in page  # the name, as text
    assert page.count('{"v":"__NOTE__"}') == 1  # the data once, in its <script> element
    sub = tmp_path / "cam#1"
    sub.mkdir()
    import pandas as pd

    index = report.write_index(tmp_path, [("cam#1/x", sub / "x_report.html")], pd.DataFrame())
    assert 'href="cam%231/x_report.html"' in index.read_text()


def _face_clip(tmp_path: Path, name: str = "clip.mp4") -> Path:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skimage")
    from helpers.face_video import write_video

    return write_video(tmp_path / name, 6)


def test_faces_on_a_full_disk_names_video_file_and_free_space(tmp_path, monkeypatch, capsys):
    video = _face_clip(tmp_path)
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        fill_disk(m, out, 0)
        assert main(["faces", str(video), "--out", str(out), "--quiet"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"faces: FAILED {video}: {out}/"), lines  # the video, the file
    assert "No space left on device" in lines[0] and "free" in lines[0], lines
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or ".partial-" in p.name]


def test_faces_quiet_prints_the_error_only(tmp_path):
    pytest.importorskip("onnxruntime")
    bad = tmp_path / "text.mp4"
    bad.write_text("not a video\n" * 50)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    res = subprocess.run(
        [sys.executable, "-m", "vnaw", "faces", str(bad), "--out", str(tmp_path / "o"), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and str(bad) in res.stderr, res.stderr
    assert res.stdout == ""


def test_a_newline_in_a_file_name_keeps_the_summary_one_line(tmp_path, capsys):
    video = _face_clip(tmp_path, "two\nlines.mp4")
    out = tmp_path / "out"
    assert main(["predict", str(video), "--out", str(out), "--quiet", "--threads", "1"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("predict: 1 video(s)"), err
    assert "two\\nlines" in err[0]


class _Bad:
    def __len__(self):
        return 4

    def __getitem__(self, i):
        from vnaw.errors import StoreError

        raise StoreError(f"/data/store/v{i}.npy: not a readable numeric .npy array")


def test_an_error_in_a_data_loader_worker_keeps_its_message():
    """torch re-raises a worker's error with the worker's traceback as its message: the line
    shows the original message (naming the file), not "Caught StoreError in DataLoader worker"."""
    pytest.importorskip("torch")  # the training stack
    from torch.utils.data import DataLoader

    from vnaw.cli import describe
    from vnaw.errors import StoreError

    with pytest.raises(StoreError) as info:
        next(iter(DataLoader(_Bad(), num_workers=1)))
    assert str(info.value).startswith("Caught StoreError")
    assert describe(info.value) == "/data/store/v0.npy: not a readable numeric .npy array"
