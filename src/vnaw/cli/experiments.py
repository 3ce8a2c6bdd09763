"""``vnaw kfold`` (Table 1) and ``vnaw ablation`` (Table 2): :mod:`vnaw.experiments`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="YAML configuration file")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides")
    p.add_argument("--out", required=True, help="experiment folder (one sub-folder per run)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds per row")
    p.add_argument(
        "--skip-bad", action="store_true", help="warn about and skip bad videos (data.skip_bad)"
    )
    p.add_argument(
        "--score",
        choices=("labels", "clean"),
        default="labels",
        help="score against the annotations, or the clean/ labels of synthetic data",
    )


def _load(args: argparse.Namespace):
    from vnaw.config import load_config_args

    skip = ["data.skip_bad=true"] if args.skip_bad else []
    return load_config_args(args.config, [*args.overrides, *skip])


def _score(args: argparse.Namespace) -> str:
    return "clean labels" if args.score == "clean" else "labels"


def _cmd_kfold(args: argparse.Namespace) -> int:
    from vnaw.experiments import kfold

    print(kfold(_load(args), Path(args.out), args.folds, args.seeds, args.fold_seed, _score(args)))
    return 0


def _cmd_ablation(args: argparse.Namespace) -> int:
    from vnaw.experiments import ablation

    baselines = tuple(args.person_baseline or ())
    print(ablation(_load(args), Path(args.out), args.seeds, _score(args), baselines))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kfold", help="Table 1: official split + k seeded 7:3 video folds")
    _common(p)
    p.add_argument("--folds", type=int, default=3, help="number of folds (paper: 3)")
    p.add_argument("--fold-seed", dest="fold_seed", type=int, default=0, help="seed of the folds")
    p.set_defaults(func=_cmd_kfold)
    p = sub.add_parser("ablation", help="Table 2: none / Aug / NAW / both on one split")
    _common(p)
    p.add_argument(
        "--person-baseline",
        dest="person_baseline",
        nargs="+",
        choices=("subtract", "token"),
        help="also train a row 'both+MODE' with model.person_baseline=MODE (not in the paper)",
    )
    p.set_defaults(func=_cmd_ablation)
