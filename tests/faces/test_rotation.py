"""Phone videos: rotation metadata (a display matrix) is honoured — frames are decoded upright, so
the boxes, the overlay and the report show the picture a player shows; a file with two video
streams says which one it uses."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vnaw.faces.video import iter_frames, rotation, upright


def _clip(path: Path, stored: list[np.ndarray], turn: int, streams: int = 1) -> Path:
    import av

    with av.open(str(path), "w") as out:
        video = []
        for _ in range(streams):
            s = out.add_stream("mpeg4", rate=10)
            s.height, s.width = stored[0].shape[:2]
            s.pix_fmt = "yuv420p"
            if turn:
                s.set_display_rotation(turn)
            video.append(s)
        for img in stored:
            for s in video:
                for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(packet)
        for s in video:
            for packet in s.encode():
                out.mux(packet)
    return path


def _upright_frames(n: int = 3) -> list[np.ndarray]:
    """A portrait picture (48 wide, 80 high): a white band at the top, a grey one on the left."""
    frames = []
    for _ in range(n):
        img = np.zeros((80, 48, 3), np.uint8)
        img[:16] = 255
        img[16:, :12] = 128
        frames.append(img)
    return frames


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_frames_are_decoded_upright(tmp_path, turn):
    frames = _upright_frames()
    stored = [np.ascontiguousarray(np.rot90(f, k=-turn // 90)) for f in frames]  # as stored
    clip = _clip(tmp_path / f"r{turn}.mp4", stored, turn)
    decoded = [f.rgb for f in iter_frames(clip)]
    assert len(decoded) == 3
    for got, want in zip(decoded, frames, strict=True):
        assert got.shape == want.shape == (80, 48, 3)
        assert np.abs(got.astype(int) - want).mean() < 4  # mpeg4's loss only
        assert got.flags.c_contiguous


def test_no_metadata_no_turn(tmp_path):
    frames = _upright_frames(2)
    clip = _clip(tmp_path / "plain.mp4", frames, 0)
    assert [f.rgb.shape for f in iter_frames(clip)] == [(80, 48, 3)] * 2


def test_rotation_and_upright_helpers():
    class Frame:
        def __init__(self, r):
            self.rotation = r

    assert [rotation(Frame(r)) for r in (0, 90, -90, 180, -180, 270, 89.6)] == [
        0, 90, 270, 180, 180, 270, 90
    ]  # fmt: skip
    a = np.arange(6).reshape(2, 3)
    assert upright(a, 0) is a
    assert upright(a, 90).tolist() == [[2, 5], [1, 4], [0, 3]]  # counter-clockwise
    assert upright(a, 270).tolist() == [[3, 0], [4, 1], [5, 2]]


def test_a_second_video_stream_is_reported_once(tmp_path):
    clip = _clip(tmp_path / "two.mkv", _upright_frames(2), 0, streams=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(list(iter_frames(clip))) == 2
    said = [str(w.message) for w in caught]
    assert said == [f"{clip}: 2 video streams; using the first"], said


def test_a_phone_clip_gives_upright_boxes_and_overlay(tmp_path):
    """The same portrait clip, stored upright and stored as a phone does (turned, with rotation
    metadata): `predict` finds the same boxes, and the overlay is upright and portrait."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skimage")
    import av

    from helpers.face_video import write_video
    from vnaw.cli import main

    kw = {"width": 360, "height": 640, "face_size": 150}
    write_video(tmp_path / "plain.mp4", 8, **kw)
    phone = write_video(tmp_path / "phone.mp4", 8, rotation=270, **kw)
    with av.open(str(phone)) as c:  # stored landscape, as a phone does
        assert (c.streams.video[0].width, c.streams.video[0].height) == (640, 360)
    out = tmp_path / "out"
    argv = ["--out", str(out), "--overlay", "--quiet", "--threads", "1"]
    assert main(["predict", str(tmp_path), *argv]) == 0
    boxes = {
        k: pd.read_csv(out / f"{k}.csv").dropna(subset=["x0"])[["x0", "y0", "x1", "y1"]]
        for k in ("plain", "phone")
    }
    assert len(boxes["phone"]) == len(boxes["plain"]) == 8
    # Portrait coordinates: the face lies within the 360 px width, about 245 px from the top.
    assert (boxes["phone"]["x1"] <= 365).all() and (boxes["phone"]["y0"] > 150).all()
    np.testing.assert_allclose(boxes["phone"].to_numpy(), boxes["plain"].to_numpy(), atol=6)
    shown = {}
    for k in ("plain", "phone"):
        with av.open(str(out / f"{k}_overlay.mp4")) as c:
            shown[k] = next(c.decode(c.streams.video[0])).to_ndarray(format="rgb24")
    assert shown["phone"].shape == shown["plain"].shape == (640, 360, 3)
    assert np.abs(shown["phone"].astype(int) - shown["plain"]).mean() < 6
