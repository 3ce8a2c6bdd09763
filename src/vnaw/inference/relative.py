"""``--baseline auto|none|PATH``: person-relative scores for the tracks of a predicted video.

Glue between :mod:`vnaw.inference.predict` (the tracks' probabilities and crop descriptors) and
the maths of :mod:`vnaw.inference.baseline`:

* ``auto`` — each track's baseline from its own frames (:func:`~vnaw.inference.baseline.
  track_baseline`, whole track: the table is written once the video is read);
* ``PATH`` — participant calibration: a neutral recording (a video) or neutral images (an image
  file or a folder of them) of the people. Its faces are matched to the video's **by face order**
  (face 1 = the leftmost face of the calibration, …; a single calibration face serves every
  track), or, when ``PATH`` is a ``.csv`` mapping file with lines ``track,path``, each listed
  track gets the first face of its own recording (paths relative to the file);
* ``none`` — no relative columns.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vnaw.errors import ConfigError
from vnaw.inference.baseline import (
    DEFAULT_CONFIG,
    Baseline,
    BaselineConfig,
    baseline_from,
    log_probs,
    relative_scores,
    track_baseline,
)

if TYPE_CHECKING:
    from vnaw.inference.predict import TrackResult, VideoResult
    from vnaw.models.onnx_frames import OnnxFrameModel
    from vnaw.models.video import VideoModel

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def apply_track(
    track: TrackResult, given: Baseline | None = None, config: BaselineConfig = DEFAULT_CONFIG
) -> None:
    """Fill ``track``'s relative fields: against ``given`` (calibration), else its own frames."""
    face = np.asarray(track.face_found, dtype=bool)
    idx = np.flatnonzero(face)
    app = None if track.appearance is None else track.appearance[idx].astype(np.float64)
    base = given if given is not None else track_baseline(log_probs(track.probs[idx]), config, app)
    rel, ok = relative_scores(track.probs[idx], base, config, app)
    n = len(face)
    track.rel_probs = np.array(track.probs, dtype=np.float64, copy=True)
    track.rel_probs[idx] = rel
    track.baseline_ok = np.zeros(n, bool)
    track.baseline_ok[idx] = ok
    track.baseline_frame = np.zeros(n, bool)
    if given is None:
        track.baseline_frame[idx[base.frames]] = True
    track.baseline_source = base.source
    track.baseline_count = len(base.frames)
    track.baseline_reason = base.reason


def apply_baselines(
    result: VideoResult,
    given: list[Baseline] | dict[int, Baseline] | None = None,
    config: BaselineConfig = DEFAULT_CONFIG,
) -> VideoResult:
    """Relative scores for every track of ``result`` (in place; returned for chaining).
    ``given``: calibration baselines by face order (a list; one baseline serves every track) or
    by track number (a dict; unlisted tracks use their own frames)."""
    for tr in result.tracks:
        if isinstance(given, dict):
            base = given.get(tr.track)
        elif given:
            base = given[min(tr.track, len(given)) - 1] if len(given) > 1 else given[0]
        else:
            base = None
        apply_track(tr, base, config)
    return result


def calibration_files(path: Path) -> list[Path]:
    """The files of a calibration ``PATH``: itself, or the images and videos in the folder."""
    from vnaw.faces.video import VIDEO_EXTENSIONS

    if path.is_dir():
        found = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in (*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS)
        )
        if not found:
            raise ConfigError(f"{path}: --baseline folder holds no image or video file")
        return found
    if not path.is_file():
        raise ConfigError(
            f"{path}: --baseline file not found (give auto, none, or a neutral recording or "
            "images of the person)"
        )
    return [path]


def calibrate(
    path: str | Path,
    model: VideoModel | OnnxFrameModel,
    config: BaselineConfig = DEFAULT_CONFIG,
    **options,
) -> list[Baseline] | dict[int, Baseline]:
    """Baselines from a calibration ``PATH`` (module docstring): a list by face order, or a dict
    by track number for a ``.csv`` mapping file. ``options`` go to ``predict_file``."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return {t: calibrate(p, model, config, **options)[0] for t, p in read_mapping(path).items()}
    faces: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for f in calibration_files(path):
        res = _predict(f, model, **options)
        for tr in res.tracks:
            face = np.asarray(tr.face_found, dtype=bool)
            app = tr.appearance[face] if tr.appearance is not None else None
            faces.setdefault(tr.track, []).append((tr.probs[face], app))
    if not faces:
        raise ConfigError(f"{path}: no face found in the --baseline recording or images")
    out = []
    for t in sorted(faces):
        probs = np.concatenate([p for p, _ in faces[t]])
        apps = [a for _, a in faces[t]]
        app = None if any(a is None for a in apps) else np.concatenate(apps).astype(np.float64)
        out.append(baseline_from(log_probs(probs), config, app, source="calibration"))
    return out


def _predict(path: Path, model, **options) -> VideoResult:
    from vnaw.inference.predict import predict_file

    return predict_file(path, model, **options)


def read_mapping(path: Path) -> dict[int, Path]:
    """A mapping file: lines ``track,path`` (a header line ``track,path`` is allowed)."""
    out: dict[int, Path] = {}
    with path.open(newline="") as f:
        for i, row in enumerate(csv.reader(f), 1):
            if not row or (i == 1 and row[0].strip().lower() == "track"):
                continue
            try:
                track, rec = int(row[0]), row[1].strip()
            except (ValueError, IndexError):
                raise ConfigError(
                    f"{path}: line {i} is not 'track,path' (e.g. '1,neutral_anna.mp4')"
                ) from None
            out[track] = (path.parent / rec) if not Path(rec).is_absolute() else Path(rec)
    if not out:
        raise ConfigError(f"{path}: the --baseline mapping file lists no 'track,path' line")
    return out


def parse_baseline(value: str | Path | None) -> str | Path | None:
    """``auto``/``none``/``None``/a path → ``"auto"``, ``None`` or a :class:`Path`."""
    if value is None or str(value).lower() == "none":
        return None
    if str(value).lower() == "auto":
        return "auto"
    return Path(value)
