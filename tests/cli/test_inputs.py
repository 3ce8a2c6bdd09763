"""Every common input of `vnaw predict`: containers beyond mp4, images in folders, files skipped by
name, non-files refused in one line, faces beyond --max-faces reported (issue 32)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")

from vnaw.cli import main
from vnaw.faces.video import find_videos, iter_frames, skipped_files


def _transcode(src: Path, dst: Path, codec: str, pix_fmt: str) -> Path:
    import av

    with av.open(str(dst), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 180, pix_fmt
        for f in iter_frames(src):
            small = av.VideoFrame.from_ndarray(f.rgb[::2, ::2].copy(), format="rgb24")
            for packet in stream.encode(small.reformat(format=pix_fmt)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from PIL import Image

    from helpers.face_video import write_video

    d = tmp_path_factory.mktemp("inputs")
    mp4 = write_video(d / "a.mp4", 6)
    _transcode(mp4, d / "b.flv", "flv", "yuv420p")
    _transcode(mp4, d / "c.gif", "gif", "rgb8")
    (d / "stills").mkdir()
    Image.fromarray(next(iter_frames(mp4)).rgb).save(d / "stills" / "d.png")
    (d / "notes.txt").write_text("not a video")
    (d / ".hidden").write_text("ignored without a word")
    return d


def test_a_folder_lists_every_video_and_image_and_names_the_rest(folder):
    names = [p.relative_to(folder).as_posix() for p in find_videos(folder)]
    assert names == ["a.mp4", "b.flv", "c.gif", "stills/d.png"]
    assert skipped_files(folder) == [folder / "notes.txt"]


def test_predict_reads_the_whole_folder(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    for name in ("a", "b", "c", "stills/d"):
        table = (out / f"{name}.csv").read_text().splitlines()
        assert len(table) > 1, name
    assert "predict: skipped 1 file(s) that are not videos or images: notes.txt" in err.splitlines()
    assert ".hidden" not in err
    # the gif and flv hold the mp4's 6 frames; the image is one frame
    import pandas as pd

    assert pd.read_csv(out / "c.csv")["frame"].nunique() == 6
    assert pd.read_csv(out / "stills" / "d.csv")["frame"].nunique() == 1


@pytest.mark.parametrize(
    ("source", "says"),
    [
        # Stream URLs are opened live (docs/live.md); one that cannot be opened is one line.
        ("http://example.invalid/live.m3u8", "http://example.invalid/live.m3u8: cannot open ("),
        ("rtsp://cam.invalid/1", "rtsp://cam.invalid/1: cannot open ("),
        ("foo://cam/1", "foo://cam/1: a stream URL, not a file"),  # a scheme PyAV is not given
        ("/dev/null", "/dev/null: a device (a camera?), not a video file"),
    ],
)
def test_a_source_that_is_not_a_file_gets_one_line(source, says, tmp_path, capsys):
    assert main(["predict", source, "--out", str(tmp_path / "o"), "--open-timeout", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err


def test_faces_beyond_max_faces_are_reported_once(tmp_path):
    from PIL import Image

    from helpers.face_video import astronaut_face
    from vnaw.inference.analyze import load_model
    from vnaw.inference.predict import predict_file

    group = np.full((300, 1000, 3), 90, np.uint8)
    face = astronaut_face(150)
    for k in range(5):
        group[75:225, 40 + 190 * k : 190 + 190 * k] = face
    path = tmp_path / "group.png"
    Image.fromarray(group).save(path)
    result = predict_file(path, load_model(None, "cpu"))
    assert len(result.tracks) == 2
    lines = [w for w in result.warnings if "max-faces" in w]
    assert lines == [f"{path}: 5 faces in a frame, only the 2 largest followed (--max-faces 2)"]
