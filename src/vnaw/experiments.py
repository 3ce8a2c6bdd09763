"""The paper's experiments: Table 1 (``vnaw kfold``) and Table 2 (``vnaw ablation``) — design §3.3, §8.

Application code over the library, beside :mod:`vnaw.demo`; both are built on
:func:`train_and_score`, the package's one "train, then score". Each experiment is a list of
(row, seed) runs, each a normal training run in its own directory under ``--out``, evaluated on
its split's test videos. Finished runs (their ``eval`` metrics exist)
are skipped, an unfinished one resumes from its last checkpoint, so an interrupted experiment is
continued by running the same command again. Rows with several seeds report mean ± std.
"""

from __future__ import annotations

import json
import time
from copy import deepcopy
from pathlib import Path

import numpy as np

from vnaw.config import RunConfig
from vnaw.data.affwild2 import clean_records, index_dataset
from vnaw.data.splits import kfold_splits, save_splits
from vnaw.errors import DataError
from vnaw.evaluation.evaluate import score_run, split_videos
from vnaw.evaluation.plots import plot_bars
from vnaw.evaluation.tables import ResultRow, to_json, to_markdown
from vnaw.files import atomic_text
from vnaw.labels import CLASSES

# Share of each row's training videos that chooses its checkpoint when data.val_from_train is unset.
KFOLD_VAL_FROM_TRAIN = 0.15

# Table 2's four rows: (name, augmentation on, NAW on).
ABLATION_ROWS = (
    ("none", False, False),
    ("Aug", True, False),
    ("NAW", False, True),
    ("both", True, True),
)


def train_and_score(
    cfg: RunConfig,
    eval_dir: Path | None = None,
    *,
    progress: bool = True,
    timings: dict[str, float] | None = None,
) -> dict:
    """Train the run of ``cfg`` (or resume or reuse it), then score it on its split's test videos
    (:func:`vnaw.evaluation.evaluate.score_run`, into ``eval_dir``, default ``RUN/eval``); returns
    the metrics. A run already scored there is read back; seconds spent go into ``timings``
    (``train``, ``evaluate``)."""
    from vnaw.training.train import train

    run_dir = Path(cfg.out_dir)
    eval_dir = eval_dir or run_dir / "eval"
    metrics_file = eval_dir / "metrics.json"
    timings = {} if timings is None else timings
    timings.update(train=0.0, evaluate=0.0)
    if metrics_file.is_file():
        return json.loads(metrics_file.read_text())
    t = time.time()
    train(cfg, resume=(run_dir / "checkpoints" / "last.ckpt").is_file())
    timings["train"] = time.time() - t
    t = time.time()
    d = cfg.data
    records = split_videos(
        d.root, d.split, d.folds_file, annotations=d.annotations, skip_bad=d.skip_bad
    )
    metrics = score_run(
        run_dir,
        records,
        eval_dir,
        # End-to-end runs are scored from the crops, with the run's own encoder.
        features=d.features if cfg.mode == "features" else None,
        clean=clean_records(d.root),
        progress=progress,
    )
    timings["evaluate"] = time.time() - t
    return metrics


def run_and_score(cfg: RunConfig, score: str = "labels", progress: bool = True) -> np.ndarray:
    """:func:`train_and_score`, as per-class F1 (fractions, Table 1 order) against ``score``
    (``"labels"``, or ``"clean labels"``: the ``clean/`` annotations of synthetic data)."""
    metrics = train_and_score(cfg, progress=progress)
    if score not in metrics:
        where = Path(cfg.out_dir) / "eval" / "metrics.json"
        raise DataError(where, f"no scores against {score!r}; it has {list(metrics)}")
    f1 = metrics[score]["per_class_f1"]
    return np.array([f1[c] for c in CLASSES]) / 100


def _write_table(rows: list[ResultRow], out: Path, stem: str, first_column: str) -> str:
    md = to_markdown(rows, first_column)
    atomic_text(out / f"{stem}.md", md)
    atomic_text(out / f"{stem}.json", to_json(rows))
    plot_bars({r.name: list(100 * r.stats()[0]) for r in rows}, out / f"{stem}.png", title=stem)
    return md


def kfold(
    base: RunConfig,
    out: Path,
    folds: int,
    seeds: list[int],
    fold_seed: int = 0,
    score: str = "labels",
) -> str:
    """Table 1: the official split and ``folds`` seeded 7:3 video splits, one training each."""
    out.mkdir(parents=True, exist_ok=True)
    folds_file = out / "folds.json"
    if not folds_file.is_file():
        d = base.data
        names = [
            r.name for r in index_dataset(d.root, annotations=d.annotations, skip_bad=d.skip_bad)
        ]
        save_splits(folds_file, kfold_splits(names, folds, 0.7, fold_seed), seed=fold_seed)
    rows = []
    for split in ["official"] + [f"fold{k}" for k in range(1, folds + 1)]:
        runs = []
        for seed in seeds:
            cfg = deepcopy(base)
            cfg.data.split, cfg.data.folds_file = split, str(folds_file)
            # The reported videos never choose the checkpoint (design §3.3).
            cfg.data.val_from_train = cfg.data.val_from_train or KFOLD_VAL_FROM_TRAIN
            cfg.trainer.seed, cfg.out_dir = seed, str(out / split / f"seed{seed}")
            runs.append(run_and_score(cfg, score))
        rows.append(
            ResultRow("Official" if split == "official" else split.replace("fold", "fold-"), runs)
        )
    return _write_table(rows, out, "table1", "Val Set")


def ablation(
    base: RunConfig,
    out: Path,
    seeds: list[int],
    score: str = "labels",
    baselines: tuple[str, ...] = (),
) -> str:
    """Table 2: none / Aug / NAW / both on one split; then one row ``both+<mode>`` per person
    baseline mode in ``baselines`` (``model.person_baseline``, design §6.1), not in the paper."""
    out.mkdir(parents=True, exist_ok=True)
    plan = [(name, aug, naw, base.model.person_baseline) for name, aug, naw in ABLATION_ROWS]
    plan += [(f"both+{mode}", True, True, mode) for mode in baselines]
    rows = []
    for name, aug, naw, mode in plan:
        runs = []
        for seed in seeds:
            cfg = deepcopy(base)
            cfg.augment.frame_skip = cfg.augment.erase = aug
            cfg.loss.naw = naw
            cfg.model.person_baseline = mode
            cfg.trainer.seed, cfg.out_dir = seed, str(out / name / f"seed{seed}")
            runs.append(run_and_score(cfg, score))
        rows.append(ResultRow(name, runs, {"Aug": aug, "NAW": naw}))
    return _write_table(rows, out, "table2", "Run")
