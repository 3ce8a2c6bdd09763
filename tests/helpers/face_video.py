"""Generated test videos: a real face photo (scikit-image's astronaut) moving over a background."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def astronaut_face(size: int = 150) -> np.ndarray:
    """The face of ``skimage.data.astronaut()`` (a real photo), ``size`` px square, RGB uint8."""
    from PIL import Image
    from skimage import data

    face = data.astronaut()[20:240, 120:340]  # head and a little context
    return np.asarray(Image.fromarray(face).resize((size, size), Image.BILINEAR))


def write_video(
    path: str | Path,
    frames: int,
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 30,
    faces: int = 1,
    face_size: int = 150,
    background: np.ndarray | None = None,
    rotation: int = 0,
) -> Path:
    """An h264 mp4 of ``frames`` frames with 0, 1 (swaying left-right and bobbing) or 2 faces,
    over ``background`` (``height × width × 3`` uint8; default: grey noise). ``rotation`` (90,
    180, 270): stored as a phone stores it — each upright frame turned that much clockwise, with a
    display matrix saying to turn it back counter-clockwise."""
    import av

    path = Path(path)
    if background is None:
        rng = np.random.default_rng(0)
        background = (rng.integers(60, 120, (height, width, 3))).astype(np.uint8)
    img = astronaut_face(face_size)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation % 180:
            stream.width, stream.height = height, width
        if rotation:
            stream.set_display_rotation(rotation)
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for k in range(frames):
            frame = background.copy()
            if faces == 2:  # side by side, the right one mirrored
                y = (height - face_size) // 2
                frame[y : y + face_size, 20 : 20 + face_size] = img
                frame[y : y + face_size, width - 20 - face_size : width - 20] = img[:, ::-1]
            elif faces == 1:
                # A slow sway (one period per 6 s), like a person moving in a chair.
                x = int((width - face_size) / 2 * (1 + 0.8 * np.sin(2 * np.pi * k / (6 * fps))))
                y = int((height - face_size) / 2 + 20 * np.sin(2 * np.pi * k / (3 * fps)))
                frame[y : y + face_size, x : x + face_size] = img
            frame = np.ascontiguousarray(np.rot90(frame, k=-(rotation // 90)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
