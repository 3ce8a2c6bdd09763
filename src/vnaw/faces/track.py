"""Tracking: boxes matched across frames (IoU), duplicates dropped, tracks named (design §4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vnaw.faces.types import Face


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(w * h / smaller) if smaller > 0 else 0.0


def dedupe(faces: list[Face], max_overlap: float = 0.3) -> list[Face]:
    """Drop duplicate faces of one person.

    When a face moves fast, FaceMesh's tracked region lags and the detector finds the face again:
    two overlapping faces for one person. The fresh detection (it has a score) wins, then the larger.
    """
    order = sorted(
        faces, key=lambda f: (f.score == f.score, np.prod(f.box[2:] - f.box[:2])), reverse=True
    )
    kept: list[Face] = []
    for f in order:
        if all(overlap(f.box, k.box) <= max_overlap for k in kept):
            kept.append(f)
    return kept


@dataclass
class IoUTracker:
    """Greedy IoU matching of each frame's faces to tracks, one track per person.

    A face that overlaps no track's last box takes over the track (not matched in this frame)
    whose last box is nearest, so a person who leaves and comes back keeps one track; a new track
    starts only when every track is taken. Thus the number of tracks is the largest number of faces
    seen at once.
    """

    min_iou: float = 0.3
    last: list[np.ndarray] = field(default_factory=list)  # last box per track id

    def update(self, boxes: Sequence[np.ndarray]) -> list[int]:
        ids = [-1] * len(boxes)
        pairs = sorted(
            ((iou(b, t), i, j) for i, b in enumerate(boxes) for j, t in enumerate(self.last)),
            reverse=True,
        )
        taken: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < self.min_iou:
                break
            if ids[i] < 0 and j not in taken:
                ids[i], _ = j, taken.add(j)
        for i, b in enumerate(boxes):
            if ids[i] >= 0:
                continue
            free = [j for j in range(len(self.last)) if j not in taken]
            if free:
                centre = (b[:2] + b[2:]) / 2
                j = min(
                    free,
                    key=lambda j: np.linalg.norm(
                        (self.last[j][:2] + self.last[j][2:]) / 2 - centre
                    ),
                )
            else:
                j = len(self.last)
                self.last.append(b)
            ids[i] = j
            taken.add(j)
        for i, b in enumerate(boxes):
            self.last[ids[i]] = np.asarray(b, dtype=np.float64)
        return ids


def name_tracks(
    video: str,
    frames_seen: dict[int, int],
    mean_x: dict[int, float],
    total: int,
    min_fraction: float = 0.02,
) -> dict[int, str]:
    """Output name per kept track (design §4): ``video``, ``video_left/right`` or ``video_faceN``.

    Tracks seen in fewer than ``min_fraction`` of the frames (and not the only track) are dropped.
    """
    keep = [t for t, n in frames_seen.items() if n >= max(1, min_fraction * total)]
    if not keep and frames_seen:
        keep = [max(frames_seen, key=frames_seen.__getitem__)]
    if len(keep) == 1:
        return {keep[0]: video}
    keep.sort(key=lambda t: mean_x[t])  # left to right in the image
    if len(keep) == 2:
        return {keep[0]: f"{video}_left", keep[1]: f"{video}_right"}
    return {t: f"{video}_face{i + 1}" for i, t in enumerate(keep)}
