"""``vnaw predict`` over one video or a folder: per video its outputs, then ``summary.csv``.

A video that cannot be read is reported (one line naming it) and the batch goes on; a video with
no face is a result, with a warning. What was written is collected for the final line.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from vnaw.errors import VnawError
from vnaw.faces.types import FaceConfig
from vnaw.files import one_line
from vnaw.inference.outputs import output_keys, write_outputs, write_overlay
from vnaw.inference.predict import predict_file
from vnaw.inference.table import summary, write_table

if TYPE_CHECKING:
    from vnaw.models.onnx_frames import OnnxFrameModel
    from vnaw.models.video import VideoModel


class Batch:
    """The videos of one ``vnaw predict`` call; ``args`` are the command's options."""

    def __init__(
        self,
        model: VideoModel | OnnxFrameModel,
        out: Path,
        args,
        face_config: FaceConfig,
        root: Path | None,
    ):
        self.model, self.out, self.args = model, out, args
        self.face_config, self.root = face_config, root
        self.note = "encoder only, smoothed" if model.temporal is None else "V-NAW"
        self.failures: list[str] = []
        self.no_face: list[str] = []
        self.preds: dict = {}  # ABAW track name → per-frame class (filled; the submission)
        self.summaries: list = []  # per video its summary rows, not its table: memory stays flat
        self.reports: list[tuple[str, Path]] = []
        self.written: list[Path] = []
        self.videos = 0
        self.frames = 0

    def _say(self, line: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"predict: {one_line(line)}", file=sys.stderr)

    def run(self, videos: list[Path]) -> None:
        from tqdm import tqdm

        keys = output_keys(videos, self.root)
        quiet = self.args.quiet
        for v in tqdm(videos, desc="videos", unit="video", disable=len(videos) < 2 or quiet):
            try:
                self.one(v, keys[v])
            except (VnawError, OSError) as err:  # one bad video does not stop the batch
                if len(videos) == 1:
                    raise  # a single input: the CLI's error line, exit status 2
                self.failures.append(str(v))
                self._say(f"FAILED {err}")
        self.videos = len(videos)
        if self.summaries:
            self._write_summary()

    def one(self, video: Path, key: str) -> None:
        args = self.args
        res = predict_file(
            video,
            self.model,
            chunk=args.chunk,
            face_config=self.face_config,
            detector=args.detector,
            detector_weights=args.detector_weights,
            progress=not args.quiet,
        )
        for line in res.warnings:
            self._say(f"warning: {line}")
        if not res.tracks:
            self.no_face.append(key)
        df, paths = write_outputs(res, self.out, key, args.format, self.note)
        self.written += paths
        if args.overlay and res.tracks and len(res.times) > 1:
            self.written.append(write_overlay(video, res, self.out / f"{key}_overlay.mp4"))
        if args.report:
            from vnaw.inference.report import write_video_report

            page = write_video_report(video, res, df, self.out, key, self.note)
            self.reports.append((key, page))
            self.written.append(page)
        for tr in res.tracks:
            self.preds[tr.name] = tr.probs.argmax(axis=1)
        self.summaries.append(summary(df))
        self.frames += len(res.times)

    def _write_summary(self) -> None:
        import pandas as pd

        with warnings.catch_warnings():  # pandas 2.x: all-NA columns (a video with no face)
            warnings.simplefilter("ignore", FutureWarning)
            table = pd.concat(self.summaries, ignore_index=True)
        self.written.append(write_table(table, self.out / "summary.csv", "csv"))
        if self.args.report and len(self.reports) > 1:
            from vnaw.inference.report import write_index

            self.written.append(write_index(self.out, self.reports, table))

    def final_line(self) -> str:
        """One line, whatever the file names hold: what was read, and what was written where."""
        return one_line(self._final_line())

    def _final_line(self) -> str:
        what = f"{self.videos} video(s), {self.frames} frames"
        if self.no_face:
            what += f", {len(self.no_face)} without a face"
        if self.failures:
            what += f", {len(self.failures)} unreadable"
        if self.videos == 1:
            return f"predict: {what} ({self.note}); wrote {', '.join(map(str, self.written))}"
        files = [p for p in self.written if p.suffix != ".png"]
        kinds = {
            "table(s)": len(self.summaries),
            "report(s)": sum(p.name.endswith("_report.html") for p in files),
            "overlay(s)": sum(p.name.endswith("_overlay.mp4") for p in files),
        }
        counts = ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
        extra = [p.name for p in files if p.parent == self.out and p.stem in ("summary", "index")]
        extra += [p.name for p in files if p.name == "submission.txt"]
        return f"predict: {what} ({self.note}); wrote {counts}, {', '.join(extra)} in {self.out}"
