"""The paper's experiments: Table 1 (``vnaw kfold``) and Table 2 (``vnaw ablation``) — SPEC §3.3, §8.

Each experiment is a list of (row, seed) runs, each a normal training run in its own directory
under ``--out``, evaluated on its split's test videos. Finished runs (their ``eval`` metrics exist)
are skipped, an unfinished one resumes from its last checkpoint, so an interrupted experiment is
continued by running the same command again. Rows with several seeds report mean ± std.
"""

from __future__ import annotations

import argparse
import json
from copy import deepcopy
from pathlib import Path

import numpy as np

from vnaw.config import RunConfig, load_config_args
from vnaw.data.affwild2 import clean_records, index_dataset
from vnaw.data.splits import kfold_splits, save_splits
from vnaw.labels import CLASSES
from vnaw.plots import plot_bars
from vnaw.tables import ResultRow, to_json, to_markdown

# Table 2's four rows: (name, augmentation on, NAW on).
ABLATION_ROWS = (
    ("none", False, False),
    ("Aug", True, False),
    ("NAW", False, True),
    ("both", True, True),
)


def run_and_score(cfg: RunConfig, score: str = "labels", progress: bool = True) -> np.ndarray:
    """Train (or resume / reuse) one run and return its per-class F1 on its split's test videos.

    ``score="clean labels"`` scores against the ``clean/`` annotations of synthetic data.
    """
    from vnaw.evaluate import evaluate, load_run, split_videos
    from vnaw.features import FeatureStore
    from vnaw.train import train

    run_dir = Path(cfg.out_dir)
    metrics_file = run_dir / "eval" / "metrics.json"
    if not metrics_file.is_file():
        train(cfg, resume=(run_dir / "checkpoints" / "last.ckpt").is_file())
        records = split_videos(cfg.data.root, cfg.data.split, cfg.data.folds_file)
        evaluate(
            load_run(run_dir),
            records,
            FeatureStore(cfg.data.features),
            run_dir / "eval",
            clean=clean_records(cfg.data.root),
            progress=progress,
        )
    metrics = json.loads(metrics_file.read_text())
    if score not in metrics:
        raise ValueError(f"{metrics_file} has no scores against {score!r}; it has {list(metrics)}")
    f1 = metrics[score]["per_class_f1"]
    return np.array([f1[c] for c in CLASSES]) / 100


def _write_table(rows: list[ResultRow], out: Path, stem: str, first_column: str) -> str:
    md = to_markdown(rows, first_column)
    (out / f"{stem}.md").write_text(md)
    (out / f"{stem}.json").write_text(to_json(rows))
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
        names = [r.name for r in index_dataset(base.data.root)]
        save_splits(folds_file, kfold_splits(names, folds, 0.7, fold_seed), seed=fold_seed)
    rows = []
    for split in ["official"] + [f"fold{k}" for k in range(1, folds + 1)]:
        runs = []
        for seed in seeds:
            cfg = deepcopy(base)
            cfg.data.split, cfg.data.folds_file = split, str(folds_file)
            cfg.trainer.seed, cfg.out_dir = seed, str(out / split / f"seed{seed}")
            runs.append(run_and_score(cfg))
        rows.append(
            ResultRow("Official" if split == "official" else split.replace("fold", "fold-"), runs)
        )
    return _write_table(rows, out, "table1", "Val Set")


def ablation(base: RunConfig, out: Path, seeds: list[int], score: str = "labels") -> str:
    """Table 2: none / Aug / NAW / both on one split."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, aug, naw in ABLATION_ROWS:
        runs = []
        for seed in seeds:
            cfg = deepcopy(base)
            cfg.augment.frame_skip = cfg.augment.erase = aug
            cfg.loss.naw = naw
            cfg.trainer.seed, cfg.out_dir = seed, str(out / name / f"seed{seed}")
            runs.append(run_and_score(cfg, score))
        rows.append(ResultRow(name, runs, {"Aug": aug, "NAW": naw}))
    return _write_table(rows, out, "table2", "Run")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="YAML configuration file")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides")
    p.add_argument("--out", required=True, help="experiment folder (one sub-folder per run)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds per row")
    p.add_argument(
        "--score",
        choices=("labels", "clean"),
        default="labels",
        help="score against the annotations, or the clean/ labels of synthetic data",
    )


def _load(args: argparse.Namespace) -> RunConfig:
    return load_config_args(args.config, args.overrides)


def _score(args: argparse.Namespace) -> str:
    return "clean labels" if args.score == "clean" else "labels"


def _cmd_kfold(args: argparse.Namespace) -> int:
    print(kfold(_load(args), Path(args.out), args.folds, args.seeds, args.fold_seed, _score(args)))
    return 0


def _cmd_ablation(args: argparse.Namespace) -> int:
    print(ablation(_load(args), Path(args.out), args.seeds, _score(args)))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kfold", help="Table 1: official split + k seeded 7:3 video folds")
    _common(p)
    p.add_argument("--folds", type=int, default=3, help="number of folds (paper: 3)")
    p.add_argument("--fold-seed", dest="fold_seed", type=int, default=0, help="seed of the folds")
    p.set_defaults(func=_cmd_kfold)
    p = sub.add_parser("ablation", help="Table 2: none / Aug / NAW / both on one split")
    _common(p)
    p.set_defaults(func=_cmd_ablation)
