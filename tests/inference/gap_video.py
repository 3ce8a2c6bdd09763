"""Test videos for `vnaw predict`: a real face photo (scikit-image's astronaut) that leaves the
picture for a while, optionally with audio, optionally with its index first (so that a truncated
copy still states the full frame count)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FACE_FRAMES = [*range(0, 10), *range(16, 24)]  # the face is away in frames 10–15 (0-based)


def write_gap_video(
    path: Path, frames: int = 24, *, audio: bool = False, faststart: bool = False
) -> Path:
    """640×360 h264 mp4 at 30 fps, the face in :data:`FACE_FRAMES` only; optionally a 440 Hz
    AAC track and the index (moov) at the front, so that a truncated copy still says 24 frames."""
    import av

    from helpers.face_video import astronaut_face

    face = astronaut_face(150)
    background = np.random.default_rng(0).integers(60, 120, (360, 640, 3)).astype(np.uint8)
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=opts) as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 640, 360, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "23"}
        sound = out.add_stream("aac", rate=16000) if audio else None
        for k in range(frames):
            img = background.copy()
            if k in FACE_FRAMES:
                x = 200 + 4 * k
                img[100:250, x : x + 150] = face
            out.mux(video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(video.encode())
        if sound is not None:
            _write_tone(out, sound, frames / 30)
    return path


def _write_tone(out, stream, seconds: float) -> None:
    import av

    t = np.arange(int(16000 * seconds)) / 16000
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
    frame.sample_rate = 16000
    out.mux(stream.encode(frame))
    out.mux(stream.encode())
