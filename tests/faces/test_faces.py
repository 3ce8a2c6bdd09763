"""`vnaw faces`: detection, tracking, alignment and bad-file handling (design §4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")

from helpers.face_video import write_video
from vnaw.cli import main
from vnaw.errors import VideoError
from vnaw.faces.align import template, umeyama
from vnaw.faces.pipeline import FACES_DIR
from vnaw.faces.track import IoUTracker, name_tracks
from vnaw.faces.video import iter_frames


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    face = write_video(d / "face.mp4", 20)
    write_video(d / "noface.mp4", 8, faces=0)
    write_video(d / "pair.mp4", 6, faces=2)
    (d / "empty.mp4").write_bytes(b"")
    (d / "notvideo.mp4").write_text("this is not a video\n" * 40)
    data = face.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    return d


def test_umeyama_recovers_a_similarity():
    src = template(224)
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ (scale * rot).T + shift
    m = umeyama(src, dst)
    assert np.allclose(m[:, :2], scale * rot) and np.allclose(m[:, 2], shift)


def test_tracker_keeps_identities_and_names_sides():
    tracker = IoUTracker()
    left, right = np.array([0.0, 0, 10, 10]), np.array([50.0, 0, 60, 10])
    assert tracker.update([left, right]) == [0, 1]
    assert tracker.update([right + 1, left + 1]) == [1, 0]  # order in the frame does not matter
    assert tracker.update([right + 30]) == [1]  # lost overlap: nearest free track takes it
    names = name_tracks("v", {0: 10, 1: 10}, {0: 5.0, 1: 55.0}, total=10)
    assert names == {0: "v_left", 1: "v_right"}
    assert name_tracks("v", {0: 100, 1: 1}, {0: 5.0, 1: 55.0}, total=100) == {0: "v"}


def test_bad_files_raise_clear_errors(videos):
    for name, words in [
        ("empty.mp4", "empty file"),
        ("notvideo.mp4", "not a readable video"),
        ("truncated.mp4", "truncated.mp4"),
        ("missing.mp4", "no such file"),
    ]:
        with pytest.raises(VideoError, match=words):
            list(iter_frames(videos / name))


def test_faces_cli_crops_flags_and_fails_bad_files(videos, tmp_path, capsys):
    out = tmp_path / "root"
    rc = main(["faces", str(videos), "--out", str(out), "--workers", "1"])
    err = capsys.readouterr().err
    assert rc == 1  # three bad files
    for bad in ("empty.mp4", "notvideo.mp4", "truncated.mp4"):
        assert bad in err
    table = pd.read_csv(out / FACES_DIR / "face.csv")
    assert table["frame"].tolist() == list(range(1, 21))
    assert table["face_found"].mean() > 0.9
    crops = sorted((out / "cropped_aligned" / "face").glob("*.jpg"))
    assert len(crops) == table["face_found"].sum()
    assert crops[0].name == f"{table.loc[table.face_found == 1, 'frame'].iloc[0]:05d}.jpg"
    from PIL import Image

    assert Image.open(crops[0]).size == (224, 224)
    # No face: no crash, no crops, every frame flagged.
    noface = pd.read_csv(out / FACES_DIR / "noface.csv")
    assert len(noface) == 8 and (noface["face_found"] == 0).all()
    assert not (out / "cropped_aligned" / "noface").exists()
    assert not list((out / "cropped_aligned").glob(".partial-*"))  # failures leave nothing
    # Two people side by side: one track each, named like Aff-Wild2's subjects.
    for side in ("left", "right"):
        assert len(list((out / "cropped_aligned" / f"pair_{side}").glob("*.jpg"))) == 6
    # Resumable: finished videos are skipped.
    stamp = (out / FACES_DIR / "face.csv").stat().st_mtime_ns
    assert main(["faces", str(videos / "face.mp4"), "--out", str(out), "--quiet"]) == 0
    assert (out / FACES_DIR / "face.csv").stat().st_mtime_ns == stamp
