"""`vnaw faces --shard K/N` and `--ray`: the same crops and tables as one plain run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vnaw.cli import main
from vnaw.shards import shard_of

pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from helpers.face_video import write_video

    d = tmp_path_factory.mktemp("videos")
    (d / "day2").mkdir()
    write_video(d / "s1.mp4", 6)
    write_video(d / "s2.mp4", 5, faces=2)
    write_video(d / "day2" / "s3.mp4", 4)
    write_video(d / "s4.mp4", 4, faces=0)
    return d


def _files(root: Path) -> dict[str, str]:
    """Every output file (not the locks) and a hash of its bytes."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


@pytest.fixture(scope="module")
def full(folder, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("full")
    assert main(["faces", str(folder), "--out", str(out), "--quiet"]) == 0
    files = _files(out)
    assert "faces/s2.csv" in files and "cropped_aligned/s2_left/00001.jpg" in files
    return files


def test_faces_shards_add_up_to_one_run(folder, full, tmp_path):
    sources = ["s1.mp4", "s2.mp4", "day2/s3.mp4", "s4.mp4"]
    assert {shard_of(s, 2) for s in sources} == {1, 2}  # both shards have work
    for k in (1, 2):
        argv = ["faces", str(folder), "--out", str(tmp_path), "--shard", f"{k}/2", "--quiet"]
        assert main(argv) == 0
        done = {p.stem for p in (tmp_path / "faces").glob("*.csv")}
        assert done == {Path(s).stem for s in sources if shard_of(s, 2) <= k}
    assert _files(tmp_path) == full


@pytest.mark.slow
def test_faces_on_ray_equals_one_run(folder, full, tmp_path):
    from test_predict_scale import need_ray

    need_ray()
    argv = ["faces", str(folder), "--out", str(tmp_path), "--ray", "--workers", "2", "--quiet"]
    assert main(argv) == 0
    assert _files(tmp_path) == full
