"""``vnaw demo``: the whole pipeline on built-in synthetic data (:mod:`vnaw.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """``vnaw demo`` — the whole pipeline on built-in synthetic data, on a CPU, in a few minutes.

1. generate the synthetic Aff-Wild2-layout data set (design §9), unless it is already there;
2. pretrain a small image encoder on its frames with the NLA loss (``vnaw pretrain``, design §5);
3. cache per-frame features (``vnaw extract``, design §7.3);
4. train V-NAW on them (``vnaw train``, ``configs/demo.yaml``);
5. evaluate on the validation videos against the noisy and the clean labels (``vnaw evaluate``).

Every step resumes: rerunning the command after an interruption skips what is finished.
"""


def _cmd_demo(args: argparse.Namespace) -> int:
    from vnaw.demo import run_demo

    run_demo(Path(args.out), seed=args.seed, epochs=args.epochs, progress=not args.quiet)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole pipeline on built-in synthetic data (CPU, a few minutes)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="vnaw-demo", help="working folder (default: ./vnaw-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="V-NAW epochs (default: the demo config's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)
