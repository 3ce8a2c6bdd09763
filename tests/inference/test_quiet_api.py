"""`vnaw.analyze_video` is as quiet as the CLI: nothing on stdout or stderr, not even from native
code (file descriptors 1 and 2), for a clip with a face (issue 32)."""

from __future__ import annotations

import pytest

pytest.importorskip("skimage")


def test_analyze_video_prints_nothing(tmp_path, capfd):
    from helpers.face_video import write_video

    clip = write_video(tmp_path / "clip.mp4", 12)
    capfd.readouterr()
    import vnaw

    table = vnaw.analyze_video(clip)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert table["face_found"].all() and len(table) == 12
