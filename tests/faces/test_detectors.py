"""Faces (MediaPipe's models in ONNX Runtime) followed in groups of frames (`vnaw predict`) agree with frame by frame."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")

from vnaw.faces.detectors import MediaPipeFaces
from vnaw.faces.types import FaceConfig
from vnaw.faces.video import iter_frames


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    from helpers.face_video import write_video

    path = write_video(tmp_path_factory.mktemp("sway") / "sway.mp4", 45)
    return [f.rgb for f in iter_frames(path)]


def _run(frames, workers: int):
    det = MediaPipeFaces(FaceConfig(detect_every=10), workers=workers)
    calls: list[int] = []
    detect = det._detect
    det._detect = lambda rgb: (
        calls.append(next(i for i, f in enumerate(frames) if f is rgb)) or (detect(rgb))
    )
    try:
        found = det.many(frames[:20]) + det.many(frames[20:])  # two calls: state carries over
    finally:
        det.close()
    return found, calls


def test_groups_follow_faces_like_frame_by_frame(frames):
    one, calls_one = _run(frames, 1)
    three, calls_three = _run(frames, 3)
    assert len(one) == len(three) == len(frames)
    # The whole-frame detector runs every 10th frame; while no face is known, on every frame (so
    # on the whole first group of 3), then every 10th frame from the last of them.
    assert calls_one == [0, 10, 20, 30, 40]
    assert calls_three == [0, 1, 2, 12, 22, 32, 42]
    assert all(len(f) == 1 for f in one) and all(len(f) == 1 for f in three)
    for a, b in zip(one, three, strict=True):
        # Regions placed from faces up to 3 frames old: the landmarks move by a few pixels at
        # most (FaceMesh's output shifts a little with its region; the face is ~65 px wide).
        assert np.abs(a[0].points - b[0].points).max() < 3.0
        assert b[0].crop.shape == (224, 224, 3) and b[0].crop.dtype == np.uint8
