"""Decoding: video files → RGB frames with their timestamps (PyAV), and finding video files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from vnaw.errors import VideoError
from vnaw.faces.types import Frame

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


def check_video_file(path: Path) -> None:
    """Fail early, naming the file, for the cases PyAV reports obscurely."""
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")


def iter_frames(path: str | os.PathLike[str]) -> Iterator[Frame]:
    """Decode all video frames of ``path`` in order, as RGB, with their timestamps.

    Raises :class:`VideoError` (naming the file) if the file is not a readable video, has no video
    stream, or breaks off with a decoding error.
    """
    import av

    path = Path(path)
    check_video_file(path)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError) as err:
        raise VideoError(f"{path}: not a readable video ({err})") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: contains no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        index = 0
        try:
            for frame in container.decode(stream):
                # Timestamps, not index / fps: variable-frame-rate videos stay in real time.
                t = frame.time if frame.time is not None else index / rate
                yield Frame(index, float(t), frame.to_ndarray(format="rgb24"))
                index += 1
        except av.FFmpegError as err:
            raise VideoError(
                f"{path}: decoding failed after {index} frames, truncated or corrupt? ({err})"
            ) from None
        if index == 0:
            raise VideoError(f"{path}: no decodable video frame (truncated or corrupt?)")


def find_videos(path: str | os.PathLike[str]) -> list[Path]:
    """``path`` itself if it is a file, else the video files under the folder (recursive, sorted)."""
    path = Path(path)
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
        )
    return [path]
