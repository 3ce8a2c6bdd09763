"""``vnaw predict`` over one video or a folder: per video its outputs, then ``summary.csv``.

A video that cannot be read is reported (one line naming it) and the batch goes on; a video with
no face is a result, with a warning. What was written is collected for the final line.

Each video is one call of :func:`vnaw.inference.jobs.predict_one`, here in this process or, with
``--ray``, as a Ray task (:mod:`vnaw.cluster`). A video finished earlier with the same options
(its record in ``OUT/.done/``) is skipped; ``--shard K/N`` takes this job's share of the folder
(:mod:`vnaw.shards`) and leaves ``summary.csv`` to ``vnaw predict --merge``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vnaw.errors import VnawError
from vnaw.files import one_line
from vnaw.inference.jobs import (
    PredictOptions,
    crash_once,
    finished,
    model_note,
    predict_one,
    record_preds,
    write_batch_files,
)
from vnaw.inference.outputs import output_keys
from vnaw.shards import relpath, take_shard

if TYPE_CHECKING:
    from vnaw.cluster import RayOptions
    from vnaw.models.onnx_frames import OnnxFrameModel
    from vnaw.models.video import VideoModel


def _ray_task(
    video: Path, key: str, source: str, out: Path, opts: PredictOptions
) -> tuple[dict | None, str | None]:
    """One video in a Ray worker: its record, or the error line of a video that cannot be read."""
    from vnaw.inference.quiet import native_stderr_silenced

    try:
        with native_stderr_silenced(True):
            return predict_one(video, key, source, out, opts, before_commit=crash_once), None
    except (VnawError, OSError) as err:
        return None, str(err)


class Batch:
    """The videos of one ``vnaw predict`` call: each through ``opts``; ``shard`` ``(K, N)`` takes
    this job's share; ``ray`` runs them as Ray tasks; ``overwrite`` redoes finished videos."""

    def __init__(
        self,
        model: VideoModel | OnnxFrameModel,
        out: Path,
        opts: PredictOptions,
        root: Path | None,
        *,
        shard: tuple[int, int] | None = None,
        ray: RayOptions | None = None,
        overwrite: bool = False,
        quiet: bool = False,
    ):
        self.model, self.out, self.opts, self.root = model, out, opts, root
        self.shard, self.ray, self.overwrite, self.quiet = shard, ray, overwrite, quiet
        self.note = model_note(model)
        self.failures: list[str] = []
        self.records: list[dict[str, Any]] = []  # per finished video its record (jobs.py)
        self.skipped = 0
        self.written: list[Path] = []
        self.videos = 0

    @property
    def preds(self) -> dict:
        """ABAW track name → per-frame class (the submission)."""
        return record_preds(self.records)

    @property
    def frames(self) -> int:
        return sum(r["frames"] for r in self.records)

    @property
    def no_face(self) -> list[str]:
        return [r["key"] for r in self.records if r["no_face"]]

    def _say(self, line: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"predict: {one_line(line)}", file=sys.stderr)

    def run(self, videos: list[Path]) -> None:
        keys = output_keys(videos, self.root)  # over the whole folder: a shard names as a full run
        source = {v: relpath(v, self.root) for v in videos}
        mine = take_shard(videos, self.shard, source.get)
        done: dict[Path, dict] = {}
        if not self.overwrite:
            for v in mine:
                rec = finished(self.out, keys[v], source[v], self.opts)
                if rec is not None:
                    done[v] = rec
        todo = [v for v in mine if v not in done]
        self.skipped = len(done)
        if done and not self.quiet:
            self._say(f"{len(done)} video(s) already done, skipped")
        calls = [(v, keys[v], source[v], self.out, self.opts) for v in todo]
        if self.ray is not None:
            results = self._on_ray(calls)
        else:
            results = self._here(calls, single=len(videos) == 1)
        for v, rec, err in results:
            if err is not None:
                self.failures.append(str(v))
                self._say(f"FAILED {err}")
                continue
            for line in rec["warnings"]:
                self._say(f"warning: {line}")
            self.written += [self.out / p for p in rec["written"]]
            done[v] = rec
        self.records = [done[v] for v in mine if v in done]  # in folder order, whoever ran them
        self.videos = len(mine)
        if self.shard is None:
            self.written += write_batch_files(self.out, self.records)

    def _here(self, calls: list[tuple], single: bool):
        from tqdm import tqdm

        bar = tqdm(calls, desc="videos", unit="video", disable=len(calls) < 2 or self.quiet)
        for call in bar:
            try:
                yield call[0], predict_one(*call, model=self.model), None
            except (VnawError, OSError) as err:  # one bad video does not stop the batch
                if single:
                    raise  # a single input: the CLI's error line, exit status 2
                yield call[0], None, str(err)

    def _on_ray(self, calls: list[tuple]):
        from vnaw.cluster import run_tasks, session

        ray = self.ray
        progress = not self.quiet and len(calls) > 1
        # A task's own per-frame bar would go nowhere (the workers' output is not shown here).
        calls = [(*c[:4], replace(c[4], progress=False)) for c in calls]
        with session(ray):
            for i, result, lost in run_tasks(_ray_task, calls, ray, progress=progress):
                rec, err = result if lost is None else (None, f"{calls[i][0]}: {lost}")
                yield calls[i][0], rec, err

    def final_line(self) -> str:
        """One line, whatever the file names hold: what was read, and what was written where."""
        return one_line(self._final_line())

    def _final_line(self) -> str:
        what = f"{self.videos} video(s), {self.frames} frames"
        if self.shard is not None:
            what = f"shard {self.shard[0]}/{self.shard[1]}: " + what
        if self.skipped:
            what += f" ({self.skipped} already done)"
        if self.no_face:
            what += f", {len(self.no_face)} without a face"
        if self.failures:
            what += f", {len(self.failures)} unreadable"
        if self.videos == 1 and self.shard is None and not self.skipped:
            return f"predict: {what} ({self.note}); wrote {', '.join(map(str, self.written))}"
        files = [p for p in self.written if p.suffix != ".png"]
        kinds = {
            "table(s)": len(self.records) - self.skipped,
            "report(s)": sum(p.name.endswith("_report.html") for p in files),
            "overlay(s)": sum(p.name.endswith("_overlay.mp4") for p in files),
        }
        counts = ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
        extra = [p.name for p in files if p.parent == self.out and p.stem in ("summary", "index")]
        extra += [p.name for p in files if p.name == "submission.txt"]
        wrote = ", ".join([counts, *extra] if counts else extra) or "nothing new"
        line = f"predict: {what} ({self.note}); wrote {wrote} in {self.out}"
        if self.shard is not None:
            line += f"; when all {self.shard[1]} shards are done: vnaw predict --merge {self.out}"
        return line


def default_threads(cpus: int | None = None) -> int:
    """Encoder threads: half the cores (the other half decode and detect, beside it)."""
    return max(1, int(cpus or len(os.sched_getaffinity(0))) // 2)
