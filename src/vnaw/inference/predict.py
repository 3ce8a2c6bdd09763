"""Raw video → per-frame expression probabilities (``vnaw predict``) — design §8, §4, §3.1.

Pipeline per video, streaming in chunks of frames so that memory does not grow with the video
(no decoded frame, crop or feature is kept beyond its chunk and the temporal model's window):

1. decode (PyAV) → 2. detect, track and align faces (:mod:`vnaw.faces.pipeline`) → 3. image encoder on the
aligned crops (batched per chunk), eq. 6 → 4. the temporal model over ``P``-frame windows of a
rolling buffer (:class:`WindowStream`), whose result equals :func:`vnaw.inference.windows.predict_video`
on the whole video: windows as in design §8, each frame's probabilities averaged over the windows
covering it, frames without a face filled from the nearest frame with one.

Without ``--model`` there is no temporal model: the shipped encoder's own per-frame probabilities are
smoothed with a centred moving average over the frames with a face (:class:`SmoothStream`), and the
command says so. What grows with the video is a few numbers per frame (probability sums, face flag,
box, timestamp), never frames, crops or features.

What is written per track: :mod:`vnaw.inference.outputs`; the ABAW submission:
:mod:`vnaw.inference.submission`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vnaw.errors import VideoError
from vnaw.faces.align import align
from vnaw.faces.detectors import make_detector
from vnaw.faces.track import IoUTracker, name_tracks
from vnaw.faces.types import FaceConfig
from vnaw.faces.video import iter_frames
from vnaw.inference.streaming import SmoothStream, WindowStream, _Growing
from vnaw.models.video import VideoModel


@dataclass
class TrackResult:
    name: str
    probs: np.ndarray  # (N, K)
    face_found: np.ndarray  # (N,) bool
    boxes: np.ndarray  # (N, 4) NaN where no face


@dataclass
class VideoResult:
    video: str
    times: np.ndarray  # (N,) seconds
    tracks: list[TrackResult]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def _timed(it: Iterator, timings: dict[str, float], key: str) -> Iterator:
    """Yield from ``it``, adding the time spent inside it to ``timings[key]``."""
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            timings[key] += time.perf_counter() - t0
            return
        timings[key] += time.perf_counter() - t0
        yield item


def predict_file(
    path: str | Path,
    model: VideoModel,
    *,
    chunk: int = 64,
    face_config: FaceConfig | None = None,
    detector: str = "mediapipe",
    detector_weights: str | None = None,
) -> VideoResult:
    """Stream one video through faces → encoder → temporal model (module docstring)."""
    path = Path(path)
    cfg = face_config or FaceConfig()
    detect = make_detector(detector, detector_weights, cfg)
    tracker = IoUTracker()
    tracks = _Tracks(model)
    items: list[tuple[int, int, np.ndarray]] = []  # (frame, track, aligned crop) of this chunk
    start = 0
    try:
        for fr in _timed(iter_frames(path), tracks.timings, "decode"):
            t0 = time.perf_counter()
            tracks.times.append(fr.time)
            faces = detect(fr.rgb)
            for tid, face in zip(tracker.update([f.box for f in faces]), faces, strict=True):
                items.append(
                    (fr.index, tid, align(fr.rgb, face.points, cfg.crop_size, cfg.template_scale))
                )
                tracks.saw(tid, fr.index, face.box)
            tracks.timings["detect"] += time.perf_counter() - t0
            if len(tracks.times) - start >= chunk:
                tracks.flush(start, items)
                items, start = [], len(tracks.times)
        if len(tracks.times) > start:
            tracks.flush(start, items)
    finally:
        detect.close()
    return tracks.result(path, cfg.min_track_fraction)


class _Tracks:
    """Per face track: its stream (window or smoothing), boxes and statistics for naming."""

    def __init__(self, model: VideoModel) -> None:
        self.model = model
        self.timings = {"decode": 0.0, "detect": 0.0, "encode": 0.0, "temporal": 0.0}
        self.times: list[float] = []
        self.streams: dict[int, WindowStream | SmoothStream] = {}
        self.boxes: dict[int, _Growing] = {}
        self.seen: dict[int, int] = {}
        self.sum_x: dict[int, float] = {}
        self.dim: int | None = None

    def saw(self, tid: int, frame: int, box: np.ndarray) -> None:
        self.boxes.setdefault(tid, _Growing(4)).ensure(frame + 1)
        self.boxes[tid].data[frame] = box
        self.seen[tid] = self.seen.get(tid, 0) + 1
        self.sum_x[tid] = self.sum_x.get(tid, 0.0) + float(box[0] + box[2]) / 2

    def _new_stream(self) -> WindowStream | SmoothStream:
        m = self.model
        if m.temporal is not None:
            return WindowStream(m.temporal, m.clip_length, m.stride)
        return SmoothStream(m.smooth)

    def flush(self, start: int, items: list[tuple[int, int, np.ndarray]]) -> None:
        """Encode the chunk's crops, push a row per frame to every track."""
        t0 = time.perf_counter()
        n = len(self.times) - start
        out = self.model.frame_outputs([c for _, _, c in items]) if items else None
        if out is not None:
            self.dim = out.shape[1]
        self.timings["encode"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.dim is None:
            return  # no face yet in the video: rows are pushed once a track exists
        for tid in {t for _, t, _ in items} - set(self.streams):
            self.streams[tid] = self._new_stream()
            for a in range(0, start, 256):  # frames before the track's first chunk: no face
                m = min(256, start - a)
                self.streams[tid].push(np.zeros((m, self.dim), np.float32), np.zeros(m, bool))
        for tid, stream in self.streams.items():
            rows = np.zeros((n, self.dim), np.float32)
            face = np.zeros(n, bool)
            for (k, t, _), row in zip(items, out if out is not None else [], strict=False):
                if t == tid:
                    rows[k - start], face[k - start] = row, True
            stream.push(rows, face)
        self.timings["temporal"] += time.perf_counter() - t0

    def result(self, path: Path, min_track_fraction: float) -> VideoResult:
        n = len(self.times)
        t0 = time.perf_counter()
        mean_x = {t: self.sum_x[t] / self.seen[t] for t in self.seen}
        names = name_tracks(path.stem, self.seen, mean_x, n, min_track_fraction)
        results = []
        for tid, name in sorted(names.items(), key=lambda kv: kv[1]):
            stream = self.streams[tid]
            face = np.asarray(stream.face, dtype=bool)
            box = np.full((n, 4), np.nan)
            b = self.boxes[tid].view()
            box[: len(b)] = np.where(face[: len(b), None], b, np.nan)
            results.append(TrackResult(name, stream.finish(), face, box))
        self.timings["temporal"] += time.perf_counter() - t0
        if not results:
            raise VideoError(f"{path}: no face found in any of its {n} frames; nothing to predict")
        return VideoResult(path.stem, np.asarray(self.times), results, self.timings)
