"""Per-split summary of an Aff-Wild2-layout data set (``vnaw data stats``): videos, frames, classes."""

from __future__ import annotations

import numpy as np

from vnaw.data.affwild2 import SPLITS, VideoRecord
from vnaw.labels import CLASSES, IGNORE_INDEX, NUM_CLASSES


def stats_table(records: list[VideoRecord]) -> str:
    """Markdown table: per split, videos, frames, valid frames, frames with a crop, then the
    class distribution of valid frames (count and percent)."""
    head = ["split", "videos", "frames", "valid", "crops", *CLASSES]
    rows = []
    for split in [*SPLITS, "all"]:
        recs = [r for r in records if split in (r.split, "all")]
        if not recs:
            continue
        labels = np.concatenate([r.labels for r in recs])
        valid = labels[labels != IGNORE_INDEX]
        counts = np.bincount(valid, minlength=NUM_CLASSES)
        pct = 100.0 * counts / max(valid.size, 1)
        crops = sum(int(r.has_crop.sum()) for r in recs)
        cells = [f"{c} ({p:.1f}%)" for c, p in zip(counts, pct, strict=True)]
        rows.append([split, str(len(recs)), str(labels.size), str(valid.size), str(crops), *cells])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
