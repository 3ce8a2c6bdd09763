"""One video of ``vnaw predict`` as a self-contained job, and the records that make a folder
resumable and mergeable.

:func:`predict_one` is the per-video function: the same one runs in the command's own process,
in a Ray task (:mod:`vnaw.cluster`) or in one job of a scheduler's array (``--shard K/N``). It
writes the video's outputs (each atomically, :mod:`vnaw.files`) and last its record,
``OUT/.done/<key>.record`` (JSON; not ``.json``, which a ``--format json`` user globs for tables):
the video is finished exactly when its record exists. A job killed
half-way (a lost node, a killed worker) leaves no record, so its retry or the next run redoes the
video and replaces whatever it had written.

A record holds what the batch files need, so that they are built from the records alone, never by
re-reading the per-frame tables: the video's summary rows (as the text ``summary.csv`` gets), its
report page, its per-frame classes (for the ABAW submission) and the options its outputs depend on
(a rerun with other options redoes the video). ``summary.csv`` and ``index.html`` are therefore
the same whether one run wrote every video, N shards did, or a rerun skipped them all
(:func:`write_batch_files`, :func:`merge`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vnaw.errors import VnawError
from vnaw.faces.types import FaceConfig
from vnaw.files import atomic_json, atomic_text

DONE_DIR = ".done"  # OUT/.done/<key>.record: one record per finished video
RECORD = ".record"
CRASH_HOOK = "VNAW_TEST_CRASH_ONCE"  # tests: "KEY:FLAG_FILE" kills the task of KEY once (Ray)


@dataclass(frozen=True)
class PredictOptions:
    """What one video's job needs besides the video: picklable, so a Ray task can take it."""

    model: str | None = None
    encoder: str | None = None
    device: str = "auto"
    threads: int = 1
    format: str = "csv"
    overlay: bool = False
    report: bool = False
    chunk: int = 64
    detector: str = "mediapipe"
    detector_weights: str | None = None
    max_faces: int = 2
    detect_every: int = 10
    progress: bool = False
    model_stamp: str = ""  # which weights (model_stamp()): a retrained run is not "finished"
    baseline: str = (
        "auto"  # --baseline: auto, none, or a calibration PATH (vnaw.inference.relative)
    )

    @classmethod
    def from_args(cls, args, threads: int) -> PredictOptions:
        return cls(
            model_stamp=model_stamp(args.model or args.encoder),
            model=args.model,
            encoder=args.encoder,
            device=args.device,
            threads=threads,
            format=args.format,
            overlay=args.overlay,
            report=args.report,
            chunk=args.chunk,
            detector=args.detector,
            detector_weights=args.detector_weights,
            max_faces=args.max_faces,
            detect_every=args.detect_every,
            progress=not args.quiet,
            baseline=str(getattr(args, "baseline", "auto")),
        )

    def reading(self) -> dict[str, Any]:
        """How faces are read from a video: the keyword options of ``predict_file``."""
        return {
            "chunk": self.chunk,
            "face_config": self.face_config,
            "detector": self.detector,
            "detector_weights": self.detector_weights,
        }

    @property
    def face_config(self) -> FaceConfig:
        return FaceConfig(max_faces=self.max_faces, detect_every=self.detect_every)

    def identity(self) -> dict[str, Any]:
        """The options a video's outputs depend on (not where or how fast they were computed)."""
        d = asdict(self)
        for k in ("device", "threads", "chunk", "progress"):
            d.pop(k)
        return d


def model_stamp(path: str | None) -> str:
    """Size and modification time of the model's files (a run folder: all of them; no path: the
    shipped weights): outputs made with other weights are not reused."""
    root = Path(path) if path else Path(__file__).parents[1] / "weights"
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    stats = [p.stat() for p in files]
    return f"{sum(s.st_size for s in stats)}:{max((s.st_mtime_ns for s in stats), default=0)}"


_MODELS: dict[tuple, Any] = {}  # per process: a Ray worker loads the model once, not per video


def model_for(opts: PredictOptions):
    """The model of ``opts``, loaded once per process."""
    from vnaw.inference.analyze import load_model

    key = (opts.model, opts.encoder, opts.device, opts.threads)
    if key not in _MODELS:
        _MODELS[key] = load_model(
            opts.model, opts.device, threads=opts.threads, encoder=opts.encoder
        )
    return _MODELS[key]


_CALIBRATIONS: dict[tuple, Any] = {}  # per process: a calibration PATH is read once


def calibration_for(opts: PredictOptions, model):
    """The baselines of ``--baseline PATH`` (read once per process), ``None`` for auto/none."""
    from vnaw.inference.relative import calibrate, parse_baseline

    mode = parse_baseline(opts.baseline)
    if not isinstance(mode, Path):
        return None
    key = (opts.baseline, opts.model, opts.encoder, opts.max_faces, opts.detector)
    if key not in _CALIBRATIONS:
        _CALIBRATIONS[key] = calibrate(mode, model, **opts.reading())
    return _CALIBRATIONS[key]


def model_note(model) -> str:
    return "encoder only, smoothed" if model.temporal is None else "V-NAW"


def predict_one(
    video: Path,
    key: str,
    source: str,
    out: Path,
    opts: PredictOptions,
    model=None,
    before_commit: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Predict ``video`` and write its outputs under ``out`` (named by ``key``), then its record;
    returns the record. ``source`` is the video's path relative to the input folder (it orders
    the summary). Raises :class:`VnawError` / ``OSError`` for a video that cannot be read."""
    from vnaw.inference.outputs import write_outputs, write_overlay
    from vnaw.inference.predict import predict_file
    from vnaw.inference.relative import apply_baselines, parse_baseline
    from vnaw.inference.table import summary

    model = model if model is not None else model_for(opts)
    note = model_note(model)
    res = predict_file(
        video,
        model,
        **opts.reading(),
        progress=opts.progress,
    )
    if parse_baseline(opts.baseline) is not None:  # person-relative columns beside the raw ones
        apply_baselines(res, calibration_for(opts, model))
    df, written = write_outputs(res, out, key, opts.format, note)
    if opts.overlay and res.tracks and len(res.times) > 1:
        written.append(write_overlay(video, res, out / f"{key}_overlay.mp4"))
    report = None
    if opts.report:
        from vnaw.inference.report import write_video_report

        report = write_video_report(video, res, df, out, key, note)
        written.append(report)
    if before_commit is not None:
        before_commit(key)
    record = {
        "key": key,
        "source": source,
        "options": opts.identity(),
        "note": note,
        "frames": len(res.times),
        "no_face": not res.tracks,
        "warnings": list(res.warnings),
        "written": [p.relative_to(out).as_posix() for p in written],
        "report": report.relative_to(out).as_posix() if report else None,
        # The per-frame classes, one digit a frame: the ABAW submission without the tables.
        "preds": {tr.name: "".join(map(str, tr.probs.argmax(axis=1))) for tr in res.tracks},
        "summary": summary(df).to_csv(index=False, float_format="%.6f"),
    }
    atomic_json(record_path(out, key), record)
    return record


def crash_once(key: str) -> None:
    """The test hook of the Ray tests: with ``VNAW_TEST_CRASH_ONCE=KEY:FLAG``, the task of ``KEY``
    kills its worker process (as a lost node would) the first time, after writing its outputs and
    before its record; the flag file marks that it happened."""
    spec = os.environ.get(CRASH_HOOK, "")
    name, _, flag = spec.partition(":")
    if name == key and flag and not os.path.exists(flag):
        Path(flag).write_text(f"{os.getpid()}\n")
        os._exit(137)


def record_path(out: Path, key: str) -> Path:
    return out / DONE_DIR / f"{key}{RECORD}"


def read_record(out: Path, key: str) -> dict[str, Any] | None:
    """The record of ``key`` in ``out``; ``None`` when it has none (or an unreadable one)."""
    try:
        return json.loads(record_path(out, key).read_text())
    except (OSError, ValueError):
        return None


def finished(out: Path, key: str, source: str, opts: PredictOptions) -> dict[str, Any] | None:
    """The record when ``key`` is finished in ``out`` from the same video and options."""
    rec = read_record(out, key)
    if rec is None or rec.get("source") != source or rec.get("options") != opts.identity():
        return None
    return rec


def all_records(out: Path) -> list[dict[str, Any]]:
    """Every finished video's record in ``out``, in the order of a run over the whole folder."""
    records = []
    for path in (out / DONE_DIR).rglob(f"*{RECORD}"):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # not a record (a file a user put there): it names no finished video
    return sorted(records, key=lambda r: Path(r["source"]).parts)


def record_preds(records: list[dict[str, Any]]) -> dict[str, Any]:
    """ABAW track name → per-frame class indices, from the records (the submission)."""
    import numpy as np

    return {
        name: np.frombuffer(digits.encode(), np.uint8).astype(np.int64) - ord("0")
        for r in records
        for name, digits in r["preds"].items()
    }


def summary_text(records: list[dict[str, Any]]) -> str:
    """``summary.csv`` of ``records``: their rows, in order, under one header."""
    heads = [r["summary"].split("\n", 1) for r in records]
    if len({h[0] for h in heads}) > 1:  # records of vnaw versions with other summary columns
        return _summary_frame_union(records)
    return heads[0][0] + "\n" + "".join(rows for _, rows in heads)


def _summary_frame_union(records: list[dict[str, Any]]) -> str:
    import pandas as pd

    frames = [summary_frame(r["summary"]) for r in records]
    return pd.concat(frames, ignore_index=True).to_csv(index=False, float_format="%.6f")


def summary_frame(text: str):
    """``summary.csv`` text as a table (video names stay text: ``001`` is not the number 1)."""
    import io

    import pandas as pd

    df = pd.read_csv(io.StringIO(text), dtype={"video": str, "dominant": str})
    df["track"] = df["track"].astype("Int64")
    return df


def write_batch_files(out: Path, records: list[dict[str, Any]]) -> list[Path]:
    """``OUT/summary.csv`` and, when two or more videos have a report page, ``OUT/index.html``."""
    if not records:
        return []
    text = summary_text(records)
    written = [atomic_text(out / "summary.csv", text)]
    reports = [(r["key"], out / r["report"]) for r in records if r.get("report")]
    if len(reports) > 1:
        from vnaw.inference.report import write_index

        written.append(write_index(out, reports, summary_frame(text)))
    return written


def merge(out: Path, keys: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of ``out`` for ``vnaw predict --merge``, and the sources without one: with
    ``keys`` (source → key of every input), only those inputs' records, in the inputs' order."""
    if not out.is_dir():
        raise FileNotFoundError(2, "no such output folder (--merge)", str(out))
    records = all_records(out)
    if keys is not None:
        by_key = {r["key"]: r for r in records}
        records = [by_key[k] for s, k in keys.items() if by_key.get(k, {}).get("source") == s]
        have = {r["source"] for r in records}
        return records, [s for s in keys if s not in have]
    if not records:
        raise VnawError(
            f"{out}: no finished video to merge (no {DONE_DIR}/ records): run `vnaw predict` "
            "with this --out first"
        )
    return records, []
