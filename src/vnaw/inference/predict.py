"""Raw video → per-frame expression probabilities (``vnaw predict``) — design §8, §4, §3.1.

Pipeline per video, streaming in chunks of frames so that memory does not grow with the video
(no decoded frame, crop or feature is kept beyond its chunk and the temporal model's window):

1. decode (PyAV, in a thread of its own: it releases the GIL, so it overlaps with the rest) →
2. detect, track and align faces (framed as the encoder's training images were when it runs alone,
:func:`input_framing`) → 3. image encoder on the aligned crops (batched per chunk, in
a thread of its own too, so that it overlaps with the next chunk's detection: :class:`_InOrder`),
eq. 6 → 4. the temporal model over ``P``-frame windows of a rolling buffer (:class:`WindowStream`),
whose result equals :func:`vnaw.evaluation.windows.predict_video` on the whole video: windows as in
design §8, each frame's probabilities averaged over the windows covering it, frames without a face
filled from the nearest frame with one (that fill is for the ABAW submission, which needs a label
on every frame; the user's table, :mod:`vnaw.inference.table`, leaves those frames empty).

Without ``--model`` there is no temporal model: the shipped encoder's own per-frame probabilities are
smoothed with a centred moving average over the frames with a face (:class:`SmoothStream`), and the
command says so. What grows with the video is a few numbers per frame (probability sums, face flag,
box, landmarks, score, timestamp), never frames, crops or features.

A video in which no face is found is a result (``tracks == []``), not an error.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vnaw.faces.detectors import make_detector
from vnaw.faces.track import IoUTracker, name_tracks
from vnaw.faces.types import Face, FaceConfig
from vnaw.faces.video import check_video_file, iter_frames
from vnaw.inference.baseline import DESCRIPTOR_SIZE, appearance
from vnaw.inference.streaming import SmoothStream, WindowStream, _Growing

if TYPE_CHECKING:
    from vnaw.models.onnx_frames import OnnxFrameModel
    from vnaw.models.video import VideoModel

# Per frame and track: box (4), detection score (1), the 5 alignment points (10).
_BOX, _SCORE, _POINTS = slice(0, 4), 4, slice(5, 15)


@dataclass
class TrackResult:
    name: str  # the ABAW name (design §4): video stem, ``stem_left``/``_right`` or ``stem_faceN``
    probs: np.ndarray  # (N, K), frames without a face filled from the nearest one (submission)
    face_found: np.ndarray  # (N,) bool
    boxes: np.ndarray  # (N, 4) x0, y0, x1, y1; NaN where no face
    scores: np.ndarray | None = None  # (N,) detector score; NaN where the face was tracked
    points: np.ndarray | None = None  # (N, 5, 2) eye centres, nose tip, mouth corners; NaN
    track: int = 1  # face id in the video: 1, 2, … left to right
    appearance: np.ndarray | None = None  # (N, 65) crop descriptor for the baseline's guard; NaN
    # Person-relative scores (vnaw.inference.relative), None with --baseline none:
    rel_probs: np.ndarray | None = None  # (N, 8) relative where baseline_ok, raw elsewhere
    baseline_ok: np.ndarray | None = None  # (N,) bool: frame read against the baseline
    baseline_frame: np.ndarray | None = None  # (N,) bool: frame is one of the baseline's frames
    baseline_source: str = ""  # "auto", "calibration" (--baseline PATH); "" without
    baseline_count: int = 0  # frames the track's baseline averages (its own, or calibration's)
    baseline_reason: str = ""  # why the track has no usable baseline ("" when it has one)


@dataclass
class VideoResult:
    video: str
    times: np.ndarray  # (N,) seconds
    tracks: list[TrackResult]  # empty when no face was found in any frame
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    warnings: list[str] = field(default_factory=list)  # one line each, naming the file


def promised_frames(path: str | Path) -> int:
    """The frame count the container's header states (0 when it does not say or is unreadable)."""
    import av

    try:
        with av.open(str(path)) as c:
            return int(c.streams.video[0].frames) if c.streams.video else 0
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return 0  # iter_frames reports the real error, naming the file


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


def _prefetch(it: Iterator, timings: dict[str, float], size: int = 8) -> Iterator:
    """Run ``it`` (the decoder) in a thread, ``size`` items ahead: decoding overlaps detection and
    the encoder (PyAV, ONNX Runtime and torch release the GIL). Its errors surface here, in order."""
    q: queue.Queue = queue.Queue(maxsize=size)
    done, stop = object(), threading.Event()

    def put(item: object) -> bool:
        """Hand ``item`` over unless the consumer has stopped (then never block)."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in _timed(it, timings, "decode"):
                if not put(item):
                    return
            put(done)
        except BaseException as err:  # handed over to the consumer, raised there
            put(err)
        finally:
            it.close()  # closes the container in this thread, whatever happened

    thread = threading.Thread(target=work, name="vnaw-decode", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def input_framing(model: VideoModel | OnnxFrameModel) -> str:
    """How faces are cropped for ``model`` (a template of :mod:`vnaw.faces.align`): an encoder
    alone gets faces framed as in the images it learned from (``EncoderMeta.framing``; the shipped
    one: FERPlus's); a temporal model learned its features on ``vnaw faces`` crops (ArcFace)."""
    if model.temporal is None and model.meta is not None:
        return model.meta.framing
    return FaceConfig().framing


def predict_file(
    path: str | Path,
    model: VideoModel | OnnxFrameModel,
    *,
    chunk: int = 64,
    face_config: FaceConfig | None = None,
    detector: str = "mediapipe",
    detector_weights: str | None = None,
    progress: bool = False,
) -> VideoResult:
    """Stream one video through faces → encoder → temporal model (module docstring).

    ``progress`` shows a tqdm bar over frames (its total from the container when it says)."""
    from tqdm import tqdm

    path = Path(path)
    check_video_file(path)  # a missing or empty file fails before the progress bar is drawn
    cfg = replace(face_config or FaceConfig(), framing=input_framing(model))
    promised = promised_frames(path)
    # Faces of 3 frames at once (MediaPipeFaces.many): on 2 cores, 12.8–13.7 s for the 1,800
    # frames of benchmarks/predict_speed.py against 14.0–14.8 s with 2 at a time (CPU/wall 1.67
    # against 1.61); one more than the cores keeps them busy while a thread holds the GIL.
    workers = min(3, len(os.sched_getaffinity(0)) + 1)
    detect = make_detector(detector, detector_weights, cfg, workers=workers)
    tracker = IoUTracker()
    tracks = _Tracks(model)
    items: list[tuple[int, int, np.ndarray]] = []  # (frame, track, aligned crop) of this chunk
    start = 0
    bar = tqdm(
        total=promised or None, desc=path.name, unit="frame", disable=not progress, leave=False
    )
    encoder = _InOrder(tracks.flush)
    try:
        frames = _prefetch(iter_frames(path), tracks.timings)
        while group := list(islice(frames, workers)):
            t0 = time.perf_counter()
            for fr, faces in zip(group, detect.many([f.rgb for f in group]), strict=True):
                tracks.times.append(fr.time)
                for tid, face in zip(tracker.update([f.box for f in faces]), faces, strict=True):
                    items.append((fr.index, tid, face.crop))
                    tracks.saw(tid, fr.index, face)
                if len(tracks.times) - start >= chunk:
                    encoder.submit(start, len(tracks.times) - start, items)
                    items, start = [], len(tracks.times)
            tracks.timings["detect"] += time.perf_counter() - t0
            bar.update(len(group))
        if len(tracks.times) > start:
            encoder.submit(start, len(tracks.times) - start, items)
        encoder.finish()
    finally:
        encoder.close()
        bar.close()
        detect.close()
    result = tracks.result(path, cfg.min_track_fraction)
    result.warnings += _check_count(path, promised, len(result.times))
    if dropped := getattr(detect, "dropped", 0):
        result.warnings.append(
            f"{path}: {cfg.max_faces + dropped} faces in a frame, only the {cfg.max_faces} "
            f"largest followed (--max-faces {cfg.max_faces})"
        )
    return result


class _InOrder:
    """Runs ``fn`` on submitted chunks in one worker thread, in order, at most ``depth`` chunks
    behind: the encoder works on one chunk while the next is detected (ONNX Runtime), both
    outside the GIL. The bound keeps memory flat when the encoder is the slower of the two."""

    def __init__(self, fn, depth: int = 2) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.fn, self.depth = fn, depth
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="vnaw-encode")
        self.pending: deque = deque()

    def submit(self, *args) -> None:
        self.pending.append(self.pool.submit(self.fn, *args))
        while len(self.pending) > self.depth:
            self.pending.popleft().result()  # re-raises the worker's error here

    def finish(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _check_count(path: Path, promised: int, decoded: int) -> list[str]:
    # A container's count can be off by a frame or two (edit lists, a last B-frame); a bigger gap
    # is a truncated file, which decodes without any error.
    if promised and promised - decoded > max(2, promised // 100):
        return [
            f"{path}: the container promised {promised} frames but only {decoded} could be "
            "decoded (truncated file?)"
        ]
    return []


class _Tracks:
    """Per face track: its stream (window or smoothing), face details and statistics for naming."""

    def __init__(self, model: VideoModel | OnnxFrameModel) -> None:
        self.model = model
        self.timings = {"decode": 0.0, "detect": 0.0, "encode": 0.0, "temporal": 0.0}
        self.times: list[float] = []
        self.streams: dict[int, WindowStream | SmoothStream] = {}
        self.details: dict[int, _Growing] = {}  # box, score, points per frame (_BOX, …)
        self.looks: dict[int, _Growing] = {}  # appearance descriptor per frame (the guard's)
        self.seen: dict[int, int] = {}
        self.sum_x: dict[int, float] = {}
        self.dim: int | None = None

    def saw(self, tid: int, frame: int, face: Face) -> None:
        rows = self.details.setdefault(tid, _Growing(15))
        rows.ensure(frame + 1)
        rows.data[frame] = np.concatenate([face.box, [face.score], np.ravel(face.points)])
        if face.crop is not None:  # float16: 130 bytes per frame (14 MB per hour at 30 fps)
            looks = self.looks.setdefault(tid, _Growing(DESCRIPTOR_SIZE, np.float16))
            looks.ensure(frame + 1)
            looks.data[frame] = appearance(face.crop)
        self.seen[tid] = self.seen.get(tid, 0) + 1
        self.sum_x[tid] = self.sum_x.get(tid, 0.0) + float(face.box[0] + face.box[2]) / 2

    def _new_stream(self) -> WindowStream | SmoothStream:
        m = self.model
        if m.temporal is not None:
            return WindowStream(m.temporal, m.clip_length, m.stride)
        return SmoothStream(m.smooth)

    def flush(self, start: int, n: int, items: list[tuple[int, int, np.ndarray]]) -> None:
        """Encode the crops of the chunk's ``n`` frames, push a row per frame to every track."""
        t0 = time.perf_counter()
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

    def _track(self, tid: int, name: str, number: int, n: int) -> TrackResult:
        stream = self.streams[tid]
        face = np.asarray(stream.face, dtype=bool)
        d = np.full((n, 15), np.nan)
        got = self.details[tid].view()
        d[: len(got)] = np.where(face[: len(got), None], got, np.nan)
        return TrackResult(
            name,
            stream.finish(),
            face,
            d[:, _BOX],
            d[:, _SCORE],
            d[:, _POINTS].reshape(n, 5, 2),
            number,
            self._looks(tid, face, n),
        )

    def _looks(self, tid: int, face: np.ndarray, n: int) -> np.ndarray | None:
        if tid not in self.looks:
            return None
        a = np.full((n, DESCRIPTOR_SIZE), np.nan, np.float32)
        got = self.looks[tid].view()
        a[: len(got)] = np.where(face[: len(got), None], got, np.nan)
        return a

    def result(self, path: Path, min_track_fraction: float) -> VideoResult:
        n = len(self.times)
        t0 = time.perf_counter()
        mean_x = {t: self.sum_x[t] / self.seen[t] for t in self.seen}
        names = name_tracks(path.stem, self.seen, mean_x, n, min_track_fraction)
        order = sorted(names, key=lambda t: mean_x[t])  # face ids left to right
        results = [self._track(t, names[t], i + 1, n) for i, t in enumerate(order)]
        self.timings["temporal"] += time.perf_counter() - t0
        result = VideoResult(path.stem, np.asarray(self.times), results, self.timings)
        if not results:
            result.warnings.append(f"{path}: no face found in any of its {n} frames")
        return result
