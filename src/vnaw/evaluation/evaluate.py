"""Whole-video evaluation of a trained run on a split (``vnaw evaluate``) — design §8.

For each video of the split: overlapping ``P``-frame windows (stride ``P/2`` by default), each
frame's probabilities averaged over the windows that cover it, frames without a face crop filled
from the nearest frame with one (:func:`vnaw.evaluation.windows.predict_video`); then per-class F1 and
macro-F1 pooled over all frames of all videos (Eq. 13–15). Writes into ``--out`` (default
``RUN/eval-<split>``):

* ``predictions.csv`` — one row per frame: video, frame (1-based), label, face_found, the 8
  probabilities, pred, pred_index, ambiguity;
* ``metrics.md`` / ``metrics.json`` — per-class F1 and macro-F1 (Table 1 column order), against the
  annotated labels and, for synthetic data, against the clean labels too;
* ``confusion.png``, ``timeline_<video>.png`` for a few videos, ``naw_weights.png``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from vnaw.data.affwild2 import VideoRecord, index_dataset, records_by_name
from vnaw.data.splits import load_splits, official_split
from vnaw.errors import ConfigError, DataError
from vnaw.evaluation.metrics import confusion_matrix, f1_from_confusion
from vnaw.evaluation.plots import plot_confusion, plot_timeline, plot_weight_histogram
from vnaw.evaluation.tables import ResultRow, to_json, to_markdown
from vnaw.evaluation.windows import ambiguity, predict_video
from vnaw.files import atomic_path, atomic_text, load_npy
from vnaw.labels import CLASSES
from vnaw.models.video import VideoModel


def split_videos(
    root: str | Path,
    split: str,
    folds_file: str | None = None,
    *,
    annotations: str | None = None,
    skip_bad: bool = False,
) -> list[VideoRecord]:
    """Records to evaluate: ``official``/``Validation_Set``, ``Train_Set``, or a fold's test set."""
    records = index_dataset(root, annotations=annotations, skip_bad=skip_bad)
    if split in ("official", "Validation_Set"):
        names = official_split(records).test
    elif split == "Train_Set":
        names = official_split(records).train
    else:
        if folds_file is None:
            raise ConfigError(f"split {split!r} needs --folds FILE")
        folds = {s.name: s for s in load_splits(folds_file)}
        if split not in folds:
            raise ConfigError(f"{folds_file} has no split {split!r}; it has {', '.join(folds)}")
        names = folds[split].test
    by_name = records_by_name(records)
    picked = [by_name[n] for n in names if n in by_name or not skip_bad]
    if not picked:
        raise DataError(root, f"split {split!r} holds no video")
    return picked


def evaluate(
    model: VideoModel,
    records: list[VideoRecord],
    store,
    out_dir: Path,
    *,
    stride: int | None = None,
    clean: dict[str, VideoRecord] | None = None,
    timelines: int = 3,
    progress: bool = True,
) -> dict:
    """Predict every frame of ``records``, write the outputs, return the metrics dict."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stride = stride if stride is not None else model.stride
    frames: list[pd.DataFrame] = []
    for i, rec in enumerate(tqdm(records, desc="evaluate", unit="video", disable=not progress)):
        if not rec.has_crop.any():
            continue  # no face anywhere: nothing to predict from (reported by `data stats`)
        feats = store.features(rec.name)
        probs = predict_video(model.temporal, feats, rec.has_crop, model.clip_length, stride)
        frames.append(_video_table(rec, probs, clean[rec.name] if clean else None))
        if i < timelines:
            plot_timeline(
                probs,
                out_dir / f"timeline_{rec.name}.png",
                labels=rec.labels,
                face_found=rec.has_crop,
                title=rec.name,
            )
    if not frames:
        raise DataError("the split", "no video has a face crop")
    table = pd.concat(frames, ignore_index=True)
    with atomic_path(out_dir / "predictions.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    metrics = score_table(table, out_dir, with_clean=clean is not None)
    weights = (model.run_dir or out_dir) / "naw_weights.npy"
    if weights.is_file():
        plot_weight_histogram(load_npy(weights), out_dir / "naw_weights.png")
    return metrics


def score_run(
    run: str | Path,
    records: list[VideoRecord],
    out_dir: Path,
    *,
    features: str | None = None,
    device: str | None = None,
    stride: int | None = None,
    clean: dict[str, VideoRecord] | None = None,
    progress: bool = True,
    announce: Callable[[str], object] | None = None,
) -> dict:
    """Score the trained run ``run`` (a folder or a checkpoint in one) on ``records``: per-frame
    features from the store ``features`` (checked against the records), or, without one, from the
    crops through the run's own encoder (end-to-end runs). Writes :func:`evaluate`'s outputs into
    ``out_dir`` and returns its metrics; ``announce`` is given the loaded model's description
    (``vnaw evaluate`` prints it). The scoring half of every "train, then score" (``vnaw
    evaluate``, :func:`vnaw.experiments.train_and_score`)."""
    from vnaw.features import store as feature_store
    from vnaw.models import artifact

    model = artifact.load_video_model(run, with_encoder=features is None)[0]
    if device is not None:
        model = model.to(device)
    if announce is not None:
        announce(model.description)
    if features is None:
        from vnaw.features.crops import CropFeatures

        frames = CropFeatures(model, records)
    else:
        frames = feature_store.FeatureStore(features)
        feature_store.check_store(frames, records)
    return evaluate(model, records, frames, out_dir, stride=stride, clean=clean, progress=progress)


def _video_table(
    rec: VideoRecord, probs: np.ndarray, clean: VideoRecord | None = None
) -> pd.DataFrame:
    """One row per frame: video, frame, label (and clean label), face found, probabilities,
    prediction and ambiguity."""
    df = pd.DataFrame(probs, columns=list(CLASSES))
    df.insert(0, "face_found", rec.has_crop.astype(int))
    df.insert(0, "label", rec.labels)
    if clean is not None:
        df.insert(1, "clean_label", clean.labels)
    df.insert(0, "frame", np.arange(1, rec.num_frames + 1))
    df.insert(0, "video", rec.name)
    df["pred_index"] = probs.argmax(axis=1)
    df["pred"] = [CLASSES[k] for k in df["pred_index"]]
    df["ambiguity"] = ambiguity(probs)
    return df


def score_table(table: pd.DataFrame, out_dir: Path, *, with_clean: bool = False) -> dict:
    """Per-class F1 and macro-F1 pooled over every frame of the table (equations 13–15 in
    :mod:`vnaw.evaluation.metrics`); writes metrics.md, table.json, confusion.png and, last (its
    existence marks a finished evaluation), metrics.json."""
    metrics: dict = {}
    rows = []
    targets = {"labels": "label"} | ({"clean labels": "clean_label"} if with_clean else {})
    for name, column in targets.items():
        cm = confusion_matrix(table[column].to_numpy(), table["pred_index"].to_numpy())
        per_class = f1_from_confusion(cm)
        metrics[name] = {
            "per_class_f1": dict(zip(CLASSES, (100 * per_class).round(2).tolist(), strict=True)),
            "macro_f1": round(100 * float(per_class.mean()), 2),
            "frames": int(cm.sum()),
        }
        rows.append(ResultRow(f"vs {name}", [per_class]))
        if column == "label":
            plot_confusion(cm, out_dir / "confusion.png")
    atomic_text(out_dir / "metrics.md", to_markdown(rows, first_column="Evaluation"))
    atomic_text(out_dir / "table.json", to_json(rows))
    atomic_text(out_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics
