"""Training clips and evaluation windows over a video — design §3.1, §6, §8.

* **Training clip**: ``P`` consecutive frames from a uniformly random start (a video shorter than
  ``P`` gives the whole video, padded). A frame without a crop takes the image of the nearest frame
  with one and keeps its own label (design §3.1); with ``drop_missing`` it is instead marked absent
  (not present, label −1), which removes it from the sequence just as frame skipping does while
  keeping the other frames' time offsets.
* **Evaluation windows**: deterministic ``P``-frame windows with stride ``s`` (default ``P // 2``)
  starting at 0, plus one window flush with the end when the stride does not land there, so every
  frame of every video is covered at least once (design §8 averages over the windows that cover a
  frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vnaw.data.affwild2 import VideoRecord, nearest_crop_index
from vnaw.labels import IGNORE_INDEX

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Clip:
    """``P`` frame slots of one video. Padding slots have ``frame = -1`` and ``present = False``."""

    video: str
    start: int  # 0-based first frame
    frames: np.ndarray  # (P,) 0-based frame index, −1 = padding
    labels: np.ndarray  # (P,) int64, −1 = no valid label / padding / dropped
    source: np.ndarray  # (P,) frame whose crop stands for the slot (nearest crop), −1 = padding
    has_crop: np.ndarray  # (P,) bool: the frame's own crop exists
    present: np.ndarray  # (P,) bool: the slot is a real frame the model sees

    def paths(self, record: VideoRecord) -> list[Path | None]:
        """Crop path per slot (the nearest crop for frames without one); ``None`` for padding."""
        return [record.crop_path(int(s)) if s >= 0 else None for s in self.source]


def clip_at(
    record: VideoRecord,
    start: int,
    length: int,
    *,
    drop_missing: bool = False,
    nearest: np.ndarray | None = None,
) -> Clip:
    """The clip of ``length`` slots starting at 0-based frame ``start`` (padded past the end)."""
    n = record.num_frames
    if not 0 <= start < max(n, 1):
        raise ValueError(f"start {start} outside 0..{n - 1} for video {record.name}")
    nearest = nearest_crop_index(record.has_crop) if nearest is None else nearest
    stop = min(start + length, n)
    real = stop - start
    frames = np.full(length, -1, dtype=np.int64)
    frames[:real] = np.arange(start, stop)
    labels = np.full(length, IGNORE_INDEX, dtype=np.int64)
    labels[:real] = record.labels[start:stop]
    source = np.full(length, -1, dtype=np.int64)
    source[:real] = nearest[start:stop]
    has_crop = np.zeros(length, dtype=bool)
    has_crop[:real] = record.has_crop[start:stop]
    present = frames >= 0
    if drop_missing:
        gone = present & ~has_crop
        present = present & ~gone
        labels[gone] = IGNORE_INDEX
    return Clip(record.name, start, frames, labels, source, has_crop, present)


def random_start(num_frames: int, length: int, generator: torch.Generator | None = None) -> int:
    """Uniform start in ``0..max(N − P, 0)``."""
    import torch

    high = max(num_frames - length, 0)
    return int(torch.randint(high + 1, (1,), generator=generator).item())


def sample_clip(
    record: VideoRecord,
    length: int,
    generator: torch.Generator | None = None,
    *,
    drop_missing: bool = False,
) -> Clip:
    """A training clip of ``length`` frames from a random start (see module doc)."""
    return clip_at(
        record,
        random_start(record.num_frames, length, generator),
        length,
        drop_missing=drop_missing,
    )


def eval_windows(num_frames: int, length: int, stride: int | None = None) -> list[tuple[int, int]]:
    """Deterministic ``(start, stop)`` windows covering frames ``0..N−1`` (design §8).

    Starts are ``0, s, 2s, …`` while ``start + P < N``, then one last window ``[N − P, N)``, so the
    windows overlap by ``P − s`` and every frame is covered. ``N ≤ P`` gives the single window
    ``[0, N)``.
    """
    if length < 1:
        raise ValueError(f"window length must be >= 1, got {length}")
    stride = max(length // 2, 1) if stride is None else stride
    if not 1 <= stride <= length:
        raise ValueError(
            f"stride must lie in 1..{length} so windows cover every frame, got {stride}"
        )
    if num_frames <= 0:
        return []
    if num_frames <= length:
        return [(0, num_frames)]
    windows = [(s, s + length) for s in range(0, num_frames - length, stride)]
    windows.append((num_frames - length, num_frames))  # flush with the end
    return windows


def window_coverage(num_frames: int, windows: list[tuple[int, int]]) -> np.ndarray:
    """``(N,)`` number of windows that cover each frame (for averaging probabilities, design §8)."""
    cover = np.zeros(num_frames + 1, dtype=np.int64)
    for a, b in windows:
        cover[a] += 1
        cover[b] -= 1
    return np.cumsum(cover)[:num_frames]
