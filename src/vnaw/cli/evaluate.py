"""``vnaw evaluate RUN --data ROOT``: score a trained run on a split (:mod:`vnaw.evaluation.evaluate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vnaw.cli.data import ANNOTATIONS_HELP


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from vnaw.models.artifact import load_run_config, run_dir_of

    run_dir = run_dir_of(args.run)[0]
    cfg = load_run_config(run_dir)  # a wrong run fails before the heavy imports
    from vnaw.data.affwild2 import clean_records
    from vnaw.evaluation.evaluate import score_run, split_videos
    from vnaw.inference.analyze import resolve_device

    device = resolve_device(args.device)  # a wrong option fails before the data are read
    records = split_videos(
        args.data,
        args.split,
        args.folds or cfg.data.folds_file,
        annotations=args.annotations,
        skip_bad=args.skip_bad,
    )
    out = Path(args.out) if args.out else run_dir / f"eval-{args.split}"
    metrics = score_run(
        args.run,
        records,
        out,
        # An end-to-end run without --features encodes the crops with its own encoder.
        features=args.features or (cfg.data.features if cfg.mode == "features" else None),
        device=device,
        stride=args.stride,
        clean=clean_records(args.data),
        announce=lambda description: print(f"evaluate: {description}", flush=True),
    )
    print((out / "metrics.md").read_text())
    for name, m in metrics.items():
        print(f"macro-F1 vs {name}: {m['macro_f1']:.2f} % over {m['frames']} frames")
    print(f"predictions, metrics and plots in {out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="whole-video evaluation of a trained run (per-class F1, macro-F1, plots)",
        description="Predict every frame of a split with overlapping windows and score it (design §8).",
    )
    p.add_argument("run", help="run directory or a checkpoint inside it")
    p.add_argument("--data", required=True, help="Aff-Wild2 release root")
    p.add_argument("--annotations", help=ANNOTATIONS_HELP)
    p.add_argument("--skip-bad", action="store_true", help="warn about and skip bad videos")
    p.add_argument("--split", default="official", help="official, Train_Set, or a fold name")
    p.add_argument("--folds", help="folds JSON (for fold splits)")
    p.add_argument(
        "--features",
        help="feature store (default: the run's data.features; end-to-end runs encode the crops)",
    )
    p.add_argument("--stride", type=int, help="window stride (default: the run's, or P/2)")
    p.add_argument("--out", help="output folder (default: RUN/eval-SPLIT)")
    p.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the model runs"
    )
    p.set_defaults(func=_cmd_evaluate)
