"""The ABAW test-set submission from the release's own crops (``vnaw submit``) — design §3.1, §8.

The organisers' example file lists ``<video>/<k:05d>.jpg`` lines; the submission repeats them, in
the same order, each with a class index. Test videos have no annotation, so each listed video is
indexed from its crop folder (in any ``cropped_aligned*`` folder of the release) up to its last
listed or cropped frame, encoded with the run's image encoder through the same path as ``vnaw
extract`` (:class:`vnaw.features.crops.CropFeatures`), and predicted per frame with the run's
temporal model over overlapping windows (:func:`vnaw.evaluation.windows.predict_video`); frames
without a crop take the nearest frame's prediction.

A listed video without a single crop is an error naming it; with ``fill`` it takes the
predictions of its other track (``_left``/``_right``) when there is one, frame by frame, else
Neutral on every frame, and it is reported.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vnaw.data.affwild2 import CROPS_DIR, VideoRecord, find_crop_roots, source_video
from vnaw.errors import DataError
from vnaw.evaluation.windows import predict_video
from vnaw.features.crops import CropFeatures
from vnaw.files import atomic_text
from vnaw.inference.submission import SUBMISSION_HEADER, read_test_list
from vnaw.labels import IGNORE_INDEX
from vnaw.models.video import VideoModel

_CROP = re.compile(r"^(\d{5})\.jpg$")


@dataclass
class SubmitReport:
    lines: int
    videos: int
    filled_frames: int  # listed frames without a crop of their own
    filled_videos: list[str]  # listed videos without any crop (fill only)


def test_records(
    test_list: list[tuple[str, int]], root: Path, source: Path
) -> tuple[list[VideoRecord], list[str]]:
    """A record per listed video from its crops; and the listed videos that have none."""
    last: dict[str, int] = {}
    for video, k in test_list:
        last[video] = max(last.get(video, 0), k)
    roots = find_crop_roots(root)
    records, empty = [], []
    for video, n_listed in last.items():
        dirs = [r / video for r in roots if (r / video).is_dir()]
        if len(dirs) > 1:
            raise DataError(source, f"crops of {video} are in two folders: {dirs[0]} and {dirs[1]}")
        frames = (
            [int(m.group(1)) for e in os.scandir(dirs[0]) if (m := _CROP.match(e.name))]
            if dirs
            else []
        )
        frames = [k for k in frames if k >= 1]
        if not frames:
            empty.append(video)
            continue
        n = max(n_listed, max(frames))
        has_crop = np.zeros(n, dtype=bool)
        has_crop[np.asarray(frames) - 1] = True
        labels = np.full(n, IGNORE_INDEX, dtype=np.int64)
        records.append(VideoRecord(video, "Test_Set", source, dirs[0], labels, has_crop, None))
    return records, empty


def predict_test_set(
    model: VideoModel, records: list[VideoRecord], progress: bool = True
) -> dict[str, np.ndarray]:
    """Per-frame class indices of every record (the run's windows and stride, design §8)."""
    from tqdm import tqdm

    feats = CropFeatures(model, records)
    out = {}
    for rec in tqdm(records, desc="submit", unit="video", disable=not progress):
        probs = predict_video(
            model.temporal, feats.features(rec.name), rec.has_crop, model.clip_length, model.stride
        )
        out[rec.name] = probs.argmax(axis=1)
    return out


def fill_empty(preds: dict[str, np.ndarray], empty: list[str]) -> None:
    """Videos without crops take their other track's predictions, else Neutral (index 0)."""
    for video in empty:
        sibling = next(
            (v for v in preds if v != video and source_video(v) == source_video(video)), None
        )
        preds[video] = preds[sibling] if sibling is not None else np.zeros(1, dtype=np.int64)


def write_submission(
    model: VideoModel,
    root: str | os.PathLike[str],
    test_list_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    fill: bool = False,
    progress: bool = True,
) -> SubmitReport:
    """Predict the listed frames from the release's crops and write the submission atomically."""
    test_list_file = Path(test_list_file)
    test_list = read_test_list(test_list_file)
    if not test_list:
        raise DataError(test_list_file, "lists no frame")
    records, empty = test_records(test_list, Path(root), test_list_file)
    if empty and not fill:
        raise DataError(
            test_list_file,
            f"{len(empty)} listed video(s) have no crop in any {CROPS_DIR}* folder of {root}: "
            f"{', '.join(empty[:5])} (--fill predicts them from their other track, else Neutral)",
        )
    preds = predict_test_set(model, records, progress) if records else {}
    fill_empty(preds, empty)
    lines = [SUBMISSION_HEADER]
    filled = 0
    has_crop = {r.name: r.has_crop for r in records}
    for video, k in test_list:
        pred = preds[video]
        lines.append(f"{video}/{k:05d}.jpg,{int(pred[min(k, len(pred)) - 1])}")
        filled += int(video not in has_crop or not has_crop[video][k - 1])
    atomic_text(out, "\n".join(lines) + "\n")
    return SubmitReport(len(test_list), len(records) + len(empty), filled, empty)
