"""``vnaw demo``: the whole pipeline on built-in synthetic data (:mod:`vnaw.demo`)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def _cmd_demo(args: argparse.Namespace) -> int:
    from vnaw.demo import run_demo

    # Bars only on a terminal: redirected (logs, CI) each step prints its lines instead.
    bars = not args.quiet and sys.stderr.isatty()
    run_demo(Path(args.out), seed=args.seed, epochs=args.epochs, progress=bars)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole pipeline on built-in synthetic data (CPU, a few minutes)",
        description=importlib.import_module("vnaw.demo").__doc__,  # light: no torch
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="vnaw-demo", help="working folder (default: ./vnaw-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="V-NAW epochs (default: the demo config's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)
