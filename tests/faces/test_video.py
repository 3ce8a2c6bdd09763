"""Decoding: the fast OpenCV colour conversion agrees with PyAV's, and is used only where it may."""

from __future__ import annotations

import av
import numpy as np
import pytest

from vnaw.faces.video import _rgb, iter_frames


def _frames(path):
    with av.open(str(path)) as c:
        yield from c.decode(c.streams.video[0])


def test_fast_conversion_matches_pyav(tmp_path):
    from helpers.face_video import write_video

    path = write_video(tmp_path / "v.mp4", 6, width=320, height=180)
    ours = [f.rgb for f in iter_frames(path)]
    theirs = [f.to_ndarray(format="rgb24") for f in _frames(path)]
    assert len(ours) == len(theirs) == 6
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape == (180, 320, 3) and a.dtype == np.uint8
        diff = np.abs(a.astype(int) - b.astype(int))
        # The same BT.601 matrix; rounding and chroma upsampling differ at colour edges.
        assert diff.max() <= 8 and diff.mean() < 1.5


@pytest.mark.parametrize(
    ("fmt", "colorspace", "color_range"),
    [("yuv420p", 1, 1), ("yuv420p", 5, 2), ("yuvj420p", 2, 0), ("rgb24", 2, 0)],
)
def test_other_colour_settings_go_through_pyav(fmt, colorspace, color_range):
    """BT.709, full range, JPEG-range or RGB frames: PyAV's own conversion, exactly."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
    frame.colorspace, frame.color_range = colorspace, color_range
    np.testing.assert_array_equal(_rgb(frame), frame.to_ndarray(format="rgb24"))
