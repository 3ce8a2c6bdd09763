"""The per-frame table of ``vnaw predict`` and ``vnaw.analyze_video``, and the per-video summary.

One table per video, one row per frame and face track (design §8). A frame where the track's face
was not found has ``face_found = 0`` and *empty* probabilities, ``pred``, ``pred_index`` and
``ambiguity``: nothing is made up for it (the ABAW submission, which needs a label on every frame,
fills such frames from the nearest face frame instead; :mod:`vnaw.inference.submission`). A video
without any face gives one row per frame with an empty ``track`` and ``face_found = 0``.

Columns: :data:`TABLE_COLUMNS`. ``ambiguity`` is ``1 − (p₁ − p₂)``, one minus the margin between the
two most probable classes: near 0 the prediction is clear-cut, near 1 two classes are about as
likely. ``Other`` is Aff-Wild2's eighth class; the shipped encoder learned it from FER+'s
*contempt*.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from vnaw.errors import ConfigError
from vnaw.evaluation.windows import ambiguity
from vnaw.files import atomic_write
from vnaw.inference.predict import TrackResult, VideoResult
from vnaw.labels import CLASSES

POINT_NAMES = ("eye_l", "eye_r", "nose", "mouth_l", "mouth_r")  # the 5 points of design §4
FACE_COLUMNS = [
    "x0",
    "y0",
    "x1",
    "y1",
    "face_score",
    *[f"{p}_{xy}" for p in POINT_NAMES for xy in "xy"],
]
TABLE_COLUMNS = [
    "video",
    "track",
    "frame",
    "time_s",
    "face_found",
    *FACE_COLUMNS,
    *CLASSES,
    "pred",
    "pred_index",
    "ambiguity",
]
# With a baseline (--baseline auto or PATH), after TABLE_COLUMNS: person-relative probabilities
# (raw ones where baseline_ok = 0), their argmax, whether the frame was read against the baseline,
# whether it is one of the baseline's frames, how many frames the track's baseline averages, and
# which baseline it is (auto: the whole track; calibration: --baseline PATH).
RELATIVE_COLUMNS = [
    *(f"rel_{c}" for c in CLASSES),
    "rel_pred",
    "baseline_ok",
    "baseline_frame",
    "baseline_frames",
    "baseline",
]
FORMATS = ("csv", "parquet", "json")


def track_table(video: str, times: np.ndarray, track: TrackResult):
    """The rows of one track: :data:`TABLE_COLUMNS`, empty cells where its face was not found."""
    import pandas as pd

    n, face = len(times), np.asarray(track.face_found, dtype=bool)
    probs = track.probs / track.probs.sum(axis=1, keepdims=True)  # exact sums despite float error
    probs = np.where(face[:, None], probs, np.nan)
    idx = probs[face].argmax(axis=1)
    df = pd.DataFrame({"video": video, "track": pd.array([track.track] * n, dtype="Int64")})
    df["frame"] = np.arange(1, n + 1)  # 1-based, design §8
    df["time_s"] = np.round(times, 4)
    df["face_found"] = face.astype(int)
    df[["x0", "y0", "x1", "y1"]] = track.boxes
    df["face_score"] = track.scores if track.scores is not None else np.nan
    points = track.points if track.points is not None else np.full((n, 5, 2), np.nan)
    df[FACE_COLUMNS[5:]] = points.reshape(n, 10)
    df[list(CLASSES)] = probs
    df["pred"] = pd.Series([None] * n, dtype="string")
    df.loc[face, "pred"] = [CLASSES[i] for i in idx]
    df["pred_index"] = pd.array([pd.NA] * n, dtype="Int64")
    df.loc[face, "pred_index"] = idx
    df["ambiguity"] = np.where(face, ambiguity(np.nan_to_num(probs)), np.nan)
    if track.rel_probs is None:
        return df[TABLE_COLUMNS]
    return df[TABLE_COLUMNS].join(relative_table(track, face))


def relative_table(track: TrackResult, face: np.ndarray):
    """:data:`RELATIVE_COLUMNS` of one track (empty cells where its face was not found)."""
    import pandas as pd

    n = len(face)
    rel = np.where(face[:, None], track.rel_probs, np.nan)
    df = pd.DataFrame(rel, columns=[f"rel_{c}" for c in CLASSES])
    df["rel_pred"] = pd.Series([None] * n, dtype="string")
    df.loc[face, "rel_pred"] = [CLASSES[i] for i in rel[face].argmax(axis=1)]
    for col, flags in (
        ("baseline_ok", track.baseline_ok),
        ("baseline_frame", track.baseline_frame),
    ):
        df[col] = pd.array([pd.NA] * n, dtype="Int64")
        df.loc[face, col] = np.asarray(flags, dtype=int)[face]
    df["baseline_frames"] = track.baseline_count
    df["baseline"] = track.baseline_source
    return df


def video_table(result: VideoResult, video: str | None = None):
    """The table of one video (all its tracks, track after track); ``video`` names it in the
    ``video`` column (default: the file's stem)."""
    import pandas as pd

    video = video or result.video
    if result.tracks:
        return pd.concat(
            [track_table(video, result.times, t) for t in result.tracks], ignore_index=True
        )
    n = len(result.times)  # no face anywhere: one row per frame, every face cell empty
    empty = TrackResult("", np.ones((n, len(CLASSES))), np.zeros(n, bool), np.full((n, 4), np.nan))
    df = track_table(video, result.times, empty)
    df["track"] = pd.NA
    return df


def write_table(df, path: Path, fmt: str = "csv") -> Path:
    """Write ``df`` as ``path`` (its suffix is the format's), atomically."""
    if fmt == "csv":
        text = df.to_csv(index=False, float_format="%.6f")
        return atomic_write(path, lambda f: f.write(text.encode()))
    if fmt == "json":  # records; empty cells are null
        text = df.to_json(orient="records", double_precision=6, indent=0)
        return atomic_write(path, lambda f: f.write(text.encode()))
    if fmt == "parquet":
        check_format(fmt)
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return atomic_write(path, lambda f: f.write(buf.getvalue()))
    raise ConfigError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}")


def check_format(fmt: str) -> None:
    """Fail before any work when the format cannot be written here."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError(
                "--format parquet needs pyarrow, which is not installed: "
                "pip install pyarrow, or use --format csv or json"
            ) from None


def summary(df):
    """One row per video and track of a table: frames, face coverage, mean probabilities over the
    face frames, the dominant class and the share of face frames predicted as each class; with
    relative columns also ``rel_dominant``, ``rel_share_<class>``, ``baseline_ok_share`` (the
    share of face frames read against the baseline), ``baseline_frames`` and ``baseline``."""
    import pandas as pd

    rows = []
    for (video, track), g in df.groupby(["video", "track"], sort=False, dropna=False):
        face = g["face_found"].to_numpy() == 1
        row = {"video": video, "track": track, "frames": len(g), "face_frames": int(face.sum())}
        row["face_coverage"] = face.mean() if len(g) else 0.0
        means = g.loc[face, list(CLASSES)].mean()
        counts = g.loc[face, "pred"].value_counts()
        row |= {f"mean_{c}": means[c] for c in CLASSES}
        row["dominant"] = counts.idxmax() if len(counts) else None
        row |= {f"share_{c}": counts.get(c, 0) / max(face.sum(), 1) for c in CLASSES}
        if "rel_pred" in g:
            rel = g.loc[face, "rel_pred"].value_counts()
            row["rel_dominant"] = rel.idxmax() if len(rel) else None
            row |= {f"rel_share_{c}": rel.get(c, 0) / max(face.sum(), 1) for c in CLASSES}
            row["baseline_ok_share"] = g.loc[face, "baseline_ok"].astype(float).mean()
            row["baseline_frames"] = g["baseline_frames"].iloc[0]
            row["baseline"] = g["baseline"].iloc[0]
        rows.append(row)
    out = pd.DataFrame(rows)
    out["track"] = out["track"].astype("Int64")
    return out
