"""Decoding: video files → RGB frames with their timestamps (PyAV), and finding video files."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vnaw.errors import VideoError
from vnaw.faces.types import Frame

# What a folder is searched for: the containers FFmpeg (PyAV) reads, and still images, which PyAV
# reads as one-frame videos.
VIDEO_EXTENSIONS = (
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".flv", ".f4v", ".gif", ".mpg", ".mpeg",
    ".ts", ".mts", ".m2ts", ".vob", ".wmv", ".asf", ".3gp", ".3g2", ".ogv", ".mxf", ".y4m",
)  # fmt: skip
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
INPUT_EXTENSIONS = VIDEO_EXTENSIONS + IMAGE_EXTENSIONS


def check_video_file(path: Path) -> None:
    """Fail early, naming the file, for the cases PyAV reports obscurely."""
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_char_device():
        raise VideoError(f"{path}: a device (a camera?), not a video file")
    if not path.is_file():
        raise VideoError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")


def iter_frames(path: str | os.PathLike[str]) -> Iterator[Frame]:
    """Decode all video frames of ``path`` in order, as RGB, with their timestamps, upright: a
    frame with rotation metadata (a display matrix, as phones write) is turned as a player would
    show it, so boxes, crops, overlay and report are upright. A file with several video streams
    uses the first and says so (a warning).

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
        if len(container.streams.video) > 1:  # said once per file (warnings shows a line once)
            warnings.warn(
                f"{path}: {len(container.streams.video)} video streams; using the first",
                stacklevel=2,
            )
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        index = 0
        try:
            for frame in container.decode(stream):
                # Timestamps, not index / fps: variable-frame-rate videos stay in real time.
                t = frame.time if frame.time is not None else index / rate
                yield Frame(index, float(t), upright(_rgb(frame), rotation(frame)))
                index += 1
        except av.FFmpegError as err:
            raise VideoError(
                f"{path}: decoding failed after {index} frames, truncated or corrupt? ({err})"
            ) from None
        if index == 0:
            raise VideoError(f"{path}: no decodable video frame (truncated or corrupt?)")


# FFmpeg's codes for "unspecified" and the BT.601 matrices, and for limited ("MPEG") range: the
# only colour settings in which OpenCV's I420 conversion is the one swscale would do.
_BT601_SPACES = (2, 5, 6)
_MPEG_RANGES = (0, 1)


def _rgb(frame) -> np.ndarray:
    """A decoded frame as an RGB array. The common case, 4:2:0 BT.601 limited range with even
    sides, is converted by OpenCV (0.3 ms for 640×360 here, against 1.6–2.8 ms through swscale;
    pixels within a few levels of it: at most 6, mean about 1 on the test videos); any other frame
    goes through PyAV's conversion."""
    if (
        frame.format.name == "yuv420p"
        and frame.width % 2 == 0
        and frame.height % 2 == 0
        and getattr(frame, "colorspace", 2) in _BT601_SPACES
        and getattr(frame, "color_range", 0) in _MPEG_RANGES
    ):
        import cv2

        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="rgb24")


def rotation(frame) -> int:
    """The counter-clockwise turn, a multiple of 90 degrees, that shows a decoded frame upright:
    its display matrix (phone videos: portrait stored as landscape), 0 without one."""
    degrees = getattr(frame, "rotation", 0) or 0
    return round(degrees / 90) * 90 % 360


def upright(rgb: np.ndarray, degrees: int) -> np.ndarray:
    """``rgb`` turned ``degrees`` counter-clockwise (a multiple of 90), contiguous in memory."""
    if degrees % 360 == 0:
        return rgb
    return np.ascontiguousarray(np.rot90(rgb, k=degrees // 90))


def first_rotation(path: str | os.PathLike[str]) -> int:
    """:func:`rotation` of the first frame of ``path`` (0 when it cannot be read)."""
    import av

    try:
        with av.open(str(path)) as c:
            for frame in c.decode(c.streams.video[0]):
                return rotation(frame)
    except (av.FFmpegError, IndexError, OSError, UnicodeDecodeError):
        pass
    return 0


def find_videos(path: str | os.PathLike[str]) -> list[Path]:
    """``path`` itself if it is a file, else the videos and images under the folder (recursive,
    sorted; :data:`INPUT_EXTENSIONS`). A stream URL is refused in one line (not a file)."""
    if "://" in str(path):  # before Path(), which would fold "//" into "/"
        raise VideoError(
            f"{path}: a stream URL, not a file (give a video or image file, or a folder)"
        )
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in _files(path) if p.suffix.lower() in INPUT_EXTENSIONS)
    return [path]


def skipped_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files under folder ``path`` that :func:`find_videos` leaves out (not hidden ones)."""
    path = Path(path)
    if not path.is_dir():
        return []
    return sorted(
        p
        for p in _files(path)
        if p.suffix.lower() not in INPUT_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def _files(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file())
