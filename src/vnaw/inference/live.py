"""Live analysis: a camera, a network stream, standard input or a file → per-frame rows as they are
produced (``vnaw.stream``, ``vnaw predict --live``).

Unlike :func:`vnaw.inference.predict.predict_file`, which sees the whole video before it writes a
row, every row here is final when it is produced, so all estimates are *causal* (from the frames
seen so far):

* the shipped encoder alone: the mean of its probabilities over the track's last ``smooth + 1``
  analysed frames with a face (:class:`TrailingMean`);
* a temporal model: run over the track's last ``P`` analysed frames, the newest frame's output
  (:class:`TrailingWindow`).

Live (the default for anything but a file), the analyser always takes the newest decoded frame
(:class:`vnaw.faces.sources.FrameReader`); frames decoded meanwhile get a row with
``analysed = 0`` and empty cells, so the table has exactly one row per source frame and face
track, and ``latency_s`` (frame decoded → row produced) stays about one frame's analysis time.

Columns: :data:`LIVE_COLUMNS`, those of :mod:`vnaw.inference.table` and ``analysed``,
``latency_s``. Track numbers follow the order in which faces first appear (a file's table numbers
them left to right, which a live analysis cannot know in advance).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from vnaw.evaluation.windows import ambiguity
from vnaw.faces.detectors import make_detector
from vnaw.faces.sources import FrameReader, Source, iter_source, open_source, parse_source, to_rgb
from vnaw.faces.sources import source_key as _source_key
from vnaw.faces.track import IoUTracker
from vnaw.faces.types import Face, FaceConfig
from vnaw.inference.predict import input_framing
from vnaw.inference.streaming import _torch_probs
from vnaw.inference.table import FACE_COLUMNS, TABLE_COLUMNS
from vnaw.labels import CLASSES

if TYPE_CHECKING:
    from vnaw.models.onnx_frames import OnnxFrameModel
    from vnaw.models.video import VideoModel

LIVE_COLUMNS = [*TABLE_COLUMNS, "analysed", "latency_s"]


class TrailingMean:
    """Causal smoothing of the encoder's probabilities: the mean over the last ``half + 1``
    frames with a face (``vnaw predict`` on a file averages ``± half`` frames around each)."""

    def __init__(self, half: int) -> None:
        self.recent: deque[np.ndarray] = deque(maxlen=half + 1)

    def push(self, x: np.ndarray | None) -> np.ndarray | None:
        if x is None:
            return None
        self.recent.append(np.asarray(x, dtype=np.float64))
        return np.mean(self.recent, axis=0)


class TrailingWindow:
    """Causal temporal model: the model over the last ``clip_length`` analysed frames of the track
    (frames without a face are masked, as in training), the newest frame's probabilities. The
    model is a PyTorch module or an exported run's ONNX graph (``window_probs``)."""

    def __init__(self, temporal, clip_length: int) -> None:
        self.temporal = temporal
        self.feats: deque[np.ndarray] = deque(maxlen=clip_length)
        self.face: deque[bool] = deque(maxlen=clip_length)

    def push(self, x: np.ndarray | None) -> np.ndarray | None:
        if x is None:
            if self.feats:  # a gap in the track: masked in the window
                self.feats.append(np.zeros_like(self.feats[-1]))
                self.face.append(False)
            return None
        self.feats.append(np.asarray(x, dtype=np.float32))
        self.face.append(True)
        feats = np.stack(self.feats)[None]  # (1, T, D)
        present = np.array([list(self.face)])  # (1, T)
        if hasattr(self.temporal, "window_probs"):  # an exported run (vnaw.models.onnx_video)
            if feats.shape[1] < 2:  # its graph takes T ≥ 2: a masked frame before the first
                feats = np.concatenate([np.zeros_like(feats), feats], axis=1)
                present = np.concatenate([np.zeros_like(present), present], axis=1)
            probs = self.temporal.window_probs(feats, present)
        else:
            probs = _torch_probs(self.temporal, feats, present)
        return probs[0, -1].astype(np.float64)


class RelativeScores:
    """The hook for person-relative scores: one per track, fed each analysed frame's
    probabilities (``None`` without a face), time and aligned crop; returns extra cells for the
    row (here: none)."""

    columns: ClassVar[list[str]] = []

    def update(
        self, probs: np.ndarray | None, time_s: float, crop: np.ndarray | None
    ) -> dict[str, Any]:
        return {}


class CausalRelative(RelativeScores):
    """Person-relative scores from the track's frames seen so far
    (:class:`vnaw.inference.baseline.RunningBaseline`): the baseline is the most neutral share of
    the frames so far (``baseline_mode = running``) or, with ``calibrate`` seconds, the face's
    first seconds, taken as the person at rest (``calibration``; no relative scores until they
    are over). Where the baseline is not trusted (``baseline_ok = 0``) the ``rel_`` columns are
    the raw probabilities, as in a file's table."""

    columns: ClassVar[list[str]] = [
        *(f"rel_{c}" for c in CLASSES),
        "rel_pred",
        "baseline_ok",
        "baseline_frames",
        "baseline_mode",
    ]

    def __init__(self, calibrate: float | None = None) -> None:
        from vnaw.inference.baseline import RunningBaseline

        self.estimate = RunningBaseline(calibration_s=calibrate)
        self.mode = "running" if calibrate is None else "calibration"

    def update(
        self, probs: np.ndarray | None, time_s: float, crop: np.ndarray | None
    ) -> dict[str, Any]:
        from vnaw.inference.baseline import appearance

        if probs is None:
            return {"baseline_mode": self.mode}
        app = appearance(crop) if crop is not None else None
        self.estimate.update(probs, time_s, app)
        rel, ok = self.estimate.relative(probs, app)
        cells: dict[str, Any] = {f"rel_{c}": float(p) for c, p in zip(CLASSES, rel, strict=True)}
        cells["rel_pred"] = CLASSES[int(np.argmax(rel))]
        cells["baseline_ok"] = int(ok)
        cells["baseline_frames"] = self.estimate.state.frames
        return cells | {"baseline_mode": self.mode}


class GivenRelative(CausalRelative):
    """Person-relative scores against a baseline read beforehand from a neutral recording or
    images of the person (``--baseline PATH``; ``baseline_mode = given``)."""

    def __init__(self, baseline) -> None:
        self.baseline, self.mode = baseline, "given"

    def update(
        self, probs: np.ndarray | None, time_s: float, crop: np.ndarray | None
    ) -> dict[str, Any]:
        from vnaw.inference.baseline import appearance, relative_scores

        if probs is None:
            return {"baseline_mode": self.mode}
        app = appearance(crop)[None] if crop is not None else None
        rel, ok = relative_scores(np.asarray(probs)[None], self.baseline, appearance=app)
        cells: dict[str, Any] = {f"rel_{c}": float(p) for c, p in zip(CLASSES, rel[0], strict=True)}
        cells["rel_pred"] = CLASSES[int(np.argmax(rel[0]))]
        cells["baseline_ok"], cells["baseline_frames"] = int(ok[0]), len(self.baseline.frames)
        return cells | {"baseline_mode": self.mode}


def relative_scores(
    baseline: str | None, calibrate: float | None = None, given=None
) -> Callable[[int], RelativeScores] | None:
    """Per track number, its relative scores for ``--baseline``: ``auto`` (from the frames seen
    so far, or with ``calibrate`` the first S seconds), ``none`` (no columns: ``None``), a path
    (``given``: its baselines, by face order as a list, or by track number as a dict)."""
    from vnaw.errors import ConfigError
    from vnaw.inference.relative import parse_baseline

    mode = parse_baseline(baseline)
    if mode is None:
        if calibrate is not None:
            raise ConfigError("--calibrate S reads a person baseline: drop --baseline none")
        return None
    if mode != "auto":
        if given is None:
            raise ConfigError(f"--baseline {baseline}: its baselines were not read (given)")
        if calibrate is not None:
            raise ConfigError("--calibrate S and --baseline PATH: give one baseline, not two")

        def pick(number: int) -> RelativeScores:
            if isinstance(given, dict):
                base = given.get(number)
                return GivenRelative(base) if base is not None else CausalRelative()
            return GivenRelative(given[min(number, len(given)) - 1])

        return pick
    return lambda number: CausalRelative(calibrate)


@dataclass
class LiveFrame:
    """One source frame: its rows (one per track known so far; one with an empty track when no
    face has been seen yet or the frame was skipped) and, when analysed, the RGB image."""

    index: int  # 1-based, the table's ``frame``
    time: float  # seconds since the source's first frame
    analysed: bool
    rows: list[dict[str, Any]]
    rgb: np.ndarray | None = None
    latency: float | None = None  # seconds from the frame's decoding to its rows


@dataclass
class _Track:
    number: int  # 1, 2, … in order of first appearance
    estimate: TrailingMean | TrailingWindow
    relative: RelativeScores


@dataclass
class LiveAnalysis:
    """An iterable of :class:`LiveFrame` over ``source`` (see the module docstring). Counts and
    warnings are filled while it runs; ``stop`` (an event) ends it cleanly from another thread or
    a signal handler; ``duration``: seconds of the source (its timestamps) to analyse."""

    source: str | Source
    model: VideoModel | OnnxFrameModel
    live: bool | None = None
    duration: float | None = None
    face_config: FaceConfig | None = None
    detector: str = "mediapipe"
    detector_weights: str | None = None
    open_timeout: float = 10.0
    relative: Callable[[int], RelativeScores] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    key: str = ""
    frames: int = 0
    analysed: int = 0
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.source, str):
            self.source = parse_source(self.source)
        if self.live is None:
            self.live = not self.source.is_file
        self.key = self.key or _source_key(self.source)
        self.note = "encoder only, causal mean" if self.model.temporal is None else "V-NAW, causal"
        self.columns = LIVE_COLUMNS + (CausalRelative.columns if self.relative else [])

    @property
    def skipped(self) -> int:
        return self.frames - self.analysed

    def __iter__(self) -> Iterator[LiveFrame]:
        src = self.source
        cfg = replace(self.face_config or FaceConfig(), framing=input_framing(self.model))
        detect = make_detector(self.detector, self.detector_weights, cfg)  # fails before opening
        try:
            self._warm_up(detect, cfg)
            container = open_source(src, self.open_timeout)
            pace = bool(self.live and src.is_file)
            timeout = self.open_timeout if src.kind == "network" else None
            frames = iter_source(
                container, src.name, pace=pace, live=bool(self.live), timeout=timeout
            )
            reader = FrameReader(frames, live=bool(self.live))
        except BaseException:
            detect.close()
            raise
        tracker, tracks = IoUTracker(), {}
        try:
            while not self.stop.is_set():
                taken = reader.take(timeout=0.2)
                if taken is None:
                    continue
                for index, t in taken.skipped:
                    if self._past(t):
                        return
                    yield self._skipped(index, t)
                if taken.arrival is None or self._past(taken.arrival.frame.time):
                    break
                fr = taken.arrival.frame
                rgb = to_rgb(fr.rgb)
                faces = detect.many([rgb])[0]
                ids = tracker.update([f.box for f in faces])
                outs = self.model.frame_outputs([f.crop for f in faces]) if faces else []
                for tid in ids:
                    if tid not in tracks:
                        tracks[tid] = self._new_track(len(tracks) + 1)
                by_track = dict(zip(ids, zip(faces, outs, strict=True), strict=True))
                rows = [self._row(fr.index, fr.time, tracks[t], *by_track.get(t, (None, None)))
                        for t in sorted(tracks, key=lambda t: tracks[t].number)]  # fmt: skip
                if not rows:
                    rows = [self._row(fr.index, fr.time, None, None, None)]
                latency = time.monotonic() - taken.arrival.arrived
                for r in rows:
                    r["latency_s"] = latency
                self.frames += 1
                self.analysed += 1
                yield LiveFrame(fr.index + 1, fr.time, True, rows, rgb, latency)
        finally:
            reader.close()
            detect.close()
            if reader.warning:
                self.warnings.append(reader.warning)

    def _warm_up(self, detect, cfg: FaceConfig) -> None:
        """One blank frame through the detector and the model before the source is opened: their
        first call builds graphs and sessions (a second or more), which would otherwise delay the
        first frames of the source."""
        detect.many([np.zeros((cfg.crop_size, cfg.crop_size, 3), np.uint8)])
        self.model.frame_outputs([np.zeros((cfg.crop_size, cfg.crop_size, 3), np.uint8)])

    def _past(self, t: float) -> bool:
        return self.duration is not None and t >= self.duration

    def _new_track(self, number: int) -> _Track:
        m = self.model
        if m.temporal is not None:
            estimate: TrailingMean | TrailingWindow = TrailingWindow(m.temporal, m.clip_length)
        else:
            estimate = TrailingMean(m.smooth)
        relative = self.relative(number) if self.relative else RelativeScores()
        return _Track(number, estimate, relative)

    def _skipped(self, index: int, t: float) -> LiveFrame:
        self.frames += 1
        row = dict.fromkeys(self.columns)
        row |= {"video": self.key, "frame": index + 1, "time_s": round(t, 4), "analysed": 0}
        return LiveFrame(index + 1, t, False, [row])

    def _row(
        self, index: int, t: float, track: _Track | None, face: Face | None, out
    ) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(self.columns)
        row |= {"video": self.key, "frame": index + 1, "time_s": round(t, 4), "analysed": 1}
        row["face_found"] = int(face is not None)
        if track is None:
            return row
        row["track"] = track.number
        probs = track.estimate.push(None if face is None else out)
        if probs is not None:
            probs = probs / probs.sum()  # exact sums despite float error
        row |= track.relative.update(probs, t, None if face is None else face.crop)
        if face is None or probs is None:
            return row
        details = [*face.box, face.score, *np.ravel(face.points)]
        row |= {c: nan_to_none(float(v)) for c, v in zip(FACE_COLUMNS, details, strict=True)}
        row |= {c: float(p) for c, p in zip(CLASSES, probs, strict=True)}
        k = int(probs.argmax())
        row |= {"pred": CLASSES[k], "pred_index": k, "ambiguity": float(ambiguity(probs))}
        return row


def stream(
    source: str,
    model=None,
    device: str = "auto",
    *,
    live: bool | None = None,
    duration: float | None = None,
    encoder: str | None = None,
    baseline: str | None = "auto",
    calibrate: float | None = None,
    **options,
) -> Iterator[dict[str, Any]]:
    """Per-frame rows of ``source`` as they are produced: one dict per frame and face track, the
    columns of :data:`LIVE_COLUMNS` (``analysed = 0`` for a frame skipped to keep up; empty
    cells are ``None``).

    ``source``: a video file, a camera (``/dev/video0``, ``avfoundation:0``,
    ``dshow:video=NAME``), a stream URL (``rtsp://``, ``rtmp://``, ``http(s)://``, ``udp://``,
    ``tcp://``, ``srt://``) or ``"-"`` (standard input). ``live`` (default: not for a file)
    skips frames rather than fall behind; a file read live is paced by its timestamps.
    ``duration``: stop after that many seconds of the source. ``baseline``: ``"auto"``
    (person-relative ``rel_`` columns from the frames seen so far; ``calibrate=S``: from each
    face's first S seconds), a path (a neutral recording or images of the person, as for
    ``vnaw predict --baseline PATH``; faces in order of appearance) or ``None``. ``model``, ``device``,
    ``encoder``: as for :func:`vnaw.analyze_video`; ``options``: fields of
    :class:`LiveAnalysis` (``face_config``, ``detector``, ``open_timeout``, …). Estimates are
    causal (module docstring). Breaking out of the loop closes the source."""
    from vnaw.inference.analyze import load_model

    model = load_model(model, device, encoder=encoder)
    from vnaw.inference.relative import calibrate as read_baselines
    from vnaw.inference.relative import parse_baseline

    mode = parse_baseline(baseline)  # a path: a neutral recording or images of the person
    given = read_baselines(mode, model) if isinstance(mode, Path) else None
    relative = relative_scores(baseline, calibrate, given)
    analysis = LiveAnalysis(source, model, live, duration, relative=relative, **options)
    for frame in analysis:
        yield from frame.rows


def nan_to_none(value: Any) -> Any:
    """``None`` for a float NaN (an empty cell), the value otherwise."""
    return None if isinstance(value, float) and math.isnan(value) else value
