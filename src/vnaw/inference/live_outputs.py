"""What ``vnaw predict --live`` writes while it runs: the table row by row, the summary and the
timeline refreshed as it goes; every file complete whenever the analysis stops.

* ``OUT/KEY.csv``: the header, then each frame's rows in one write, flushed: a reader can
  ``tail -f`` it, and a stop (Ctrl-C, SIGTERM, end of stream) never leaves half a row. With
  ``--format parquet`` or ``json`` that table is also written in the format asked for at the end.
* ``OUT/summary.csv``: the summary of :func:`vnaw.inference.table.summary` over the analysed
  frames, from running sums (memory stays flat), plus the source's frame counts; rewritten
  atomically every ``summary_every`` seconds.
* ``OUT/KEY_timeline.png`` (``KEY_trackN_timeline.png`` with several faces): the last
  ``TIMELINE_FRAMES`` analysed frames of each track, redrawn atomically every ``timeline_every``
  seconds in a thread of its own (drawing takes a fraction of a second, which the analysis does
  not wait for), and at the end.
"""

from __future__ import annotations

import csv
import math
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from vnaw.inference.live import LiveFrame
from vnaw.inference.predict import TrackResult
from vnaw.labels import CLASSES

TIMELINE_FRAMES = 36_000  # an hour at 10 analysed frames per second


def cell(value: Any) -> str:
    """A CSV cell as ``pandas.to_csv(float_format="%.6f")`` writes it; empty for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


class _TrackSums:
    """Running sums for one track's summary row."""

    def __init__(self) -> None:
        self.frames = 0
        self.face_frames = 0
        self.probs = np.zeros(len(CLASSES))
        self.preds = np.zeros(len(CLASSES), dtype=np.int64)
        self.rel_preds = np.zeros(len(CLASSES), dtype=np.int64)  # with relative scores only
        self.baseline_ok = 0
        self.relative = False
        self.history: deque[tuple[float, np.ndarray | None, list[float] | None]] = deque(
            maxlen=TIMELINE_FRAMES
        )

    def add(self, row: dict[str, Any]) -> None:
        self.frames += 1
        if row["pred_index"] is None:
            self.history.append((row["time_s"], None, None))
            return
        probs = np.array([row[c] for c in CLASSES])
        self.face_frames += 1
        self.probs += probs
        self.preds[row["pred_index"]] += 1
        if row.get("rel_pred") is not None:
            self.relative = True
            self.rel_preds[CLASSES.index(row["rel_pred"])] += 1
            self.baseline_ok += row["baseline_ok"]
        self.history.append((row["time_s"], probs, [row[c] for c in ("x0", "y0", "x1", "y1")]))

    def summary_row(self, video: str, track: int | None) -> dict[str, Any]:
        row = {"video": video, "track": track, "frames": self.frames}
        row |= {"face_frames": self.face_frames, "face_coverage": self.face_frames / self.frames}
        faces = max(self.face_frames, 1)
        means = self.probs / faces if self.face_frames else np.full(len(CLASSES), np.nan)
        row |= {f"mean_{c}": float(m) for c, m in zip(CLASSES, means, strict=True)}
        row["dominant"] = CLASSES[int(self.preds.argmax())] if self.face_frames else None
        row |= {f"share_{c}": n / faces for c, n in zip(CLASSES, self.preds, strict=True)}
        if self.relative:  # as the file summary with a baseline: relative shares beside
            rel = self.rel_preds
            row["rel_dominant"] = CLASSES[int(rel.argmax())] if self.face_frames else None
            row |= {f"rel_share_{c}": n / faces for c, n in zip(CLASSES, rel, strict=True)}
            row["baseline_ok_share"] = self.baseline_ok / faces
        return row

    def track_result(self, number: int) -> tuple[np.ndarray, TrackResult]:
        n = len(self.history)
        times = np.array([t for t, _, _ in self.history])
        probs, boxes = np.zeros((n, len(CLASSES))), np.full((n, 4), np.nan)
        face = np.zeros(n, bool)
        for i, (_, p, b) in enumerate(self.history):
            if p is not None:
                probs[i], boxes[i], face[i] = p, b, True
        return times, TrackResult("", probs, face, boxes, track=number)


class LiveOutputs:
    """The files of one live analysis (module docstring); :meth:`close` finishes all of them."""

    def __init__(
        self,
        out: Path,
        key: str,
        columns: list[str],
        fmt: str = "csv",
        note: str = "",
        *,
        summary_every: float = 2.0,
        timeline_every: float = 30.0,
    ) -> None:
        self.out, self.key, self.columns, self.fmt, self.note = out, key, columns, fmt, note
        self.summary_every, self.timeline_every = summary_every, timeline_every
        self.table = out / f"{key}.csv"
        self.table.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.table, "w", newline="", encoding="utf-8")
        self.csv = csv.writer(self.file, lineterminator="\n")
        self.csv.writerow(columns)
        self.file.flush()
        self.tracks: dict[int | None, _TrackSums] = {}
        self.frames = self.analysed = 0
        self.last_summary = self.last_timeline = time.monotonic()
        self.drawing: threading.Thread | None = None
        self.written: list[Path] = [self.table]

    def add(self, frame: LiveFrame) -> None:
        """Write the frame's rows (one write, flushed) and add them to the running sums."""
        lines = [[cell(row[c]) for c in self.columns] for row in frame.rows]
        self.csv.writerows(lines)
        self.file.flush()
        self.frames += 1
        if frame.analysed:
            self.analysed += 1
            for row in frame.rows:
                self.tracks.setdefault(row["track"], _TrackSums()).add(row)
        now = time.monotonic()
        if now - self.last_summary >= self.summary_every:
            self.write_summary()
            self.last_summary = now
        if now - self.last_timeline >= self.timeline_every and not self._drawing():
            # The histories are copied here: the analysis goes on appending while it draws.
            tracks = self._timeline_tracks()
            self.drawing = threading.Thread(
                target=self.write_timelines, args=(tracks,), daemon=True
            )
            self.drawing.start()
            self.last_timeline = now

    def _drawing(self) -> bool:
        return self.drawing is not None and self.drawing.is_alive()

    def summary_table(self):
        import pandas as pd

        rows = [
            t.summary_row(self.key, k)
            for k, t in sorted(self.tracks.items(), key=lambda kv: kv[0] or 0)
            if k is not None or len(self.tracks) == 1  # frames before a face: not a track
        ]
        df = pd.DataFrame(rows)
        if len(df):
            df["track"] = df["track"].astype("Int64")
        df["source_frames"] = self.frames
        df["analysed_frames"] = self.analysed
        return df

    def write_summary(self) -> Path:
        from vnaw.inference.table import write_table

        return write_table(self.summary_table(), self.out / "summary.csv", "csv")

    def _timeline_tracks(self) -> dict[int, tuple[np.ndarray, TrackResult]]:
        """Per track with a face, its recent history as a timeline's input (a copy)."""
        return {
            k: t.track_result(k)
            for k, t in sorted(self.tracks.items(), key=lambda kv: kv[0] or 0)
            if k is not None and t.face_frames
        }

    def write_timelines(self, tracks: dict | None = None) -> list[Path]:
        from vnaw.inference.outputs import plot_timeline

        tracks = self._timeline_tracks() if tracks is None else tracks
        paths = []
        for number, (times, track) in tracks.items():
            if len(times) < 2:
                continue
            name = f"_track{number}" if len(tracks) > 1 else ""
            title = f"{self.key} · face {number}" + (f"  ({self.note})" if self.note else "")
            paths.append(plot_timeline(track, times, self.out / f"{self.key}{name}_timeline.png",
                                       title))  # fmt: skip
        return paths

    def close(self) -> list[Path]:
        """Finish every file; returns what was written."""
        self.file.close()
        if self.drawing is not None:
            self.drawing.join()
        if self.fmt != "csv":
            import pandas as pd

            from vnaw.inference.table import write_table

            df = pd.read_csv(self.table)
            self.written.append(write_table(df, self.out / f"{self.key}.{self.fmt}", self.fmt))
        self.written += self.write_timelines()
        self.written.append(self.write_summary())
        return self.written
