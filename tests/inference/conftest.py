"""Fixtures of the `vnaw predict` tests: the test video is written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from gap_video import write_gap_video


@pytest.fixture(scope="session")
def gap_video(tmp_path_factory) -> Path:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skimage")
    return write_gap_video(tmp_path_factory.mktemp("gap") / "gap.mp4")
