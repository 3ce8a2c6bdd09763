"""The ``vnaw`` command line: one parser, one subcommand per pipeline stage.

Each stage module that offers a command exposes ``add_parser(subparsers)``, which registers its
subcommand and sets ``func`` on it; this file only collects them. ``func(args) -> int`` returns the
exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vnaw import __version__


def _cmd_info(args: argparse.Namespace) -> int:
    import torch

    from vnaw.labels import CLASSES

    print(f"vnaw {__version__}")
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    print("classes: " + ", ".join(f"{i}={c}" for i, c in enumerate(CLASSES)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vnaw",
        description="Video facial-expression recognition with V-NAW (8 Aff-Wild2 classes).",
    )
    parser.add_argument("--version", action="version", version=f"vnaw {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="print version, torch build and the class order")
    info.set_defaults(func=_cmd_info)

    # Stage modules register their own subcommands here as they are added.
    for register in _stage_parsers():
        register(sub)
    return parser


def _stage_parsers() -> list:
    from vnaw import demo, evaluate, experiments, export, faces, features, predict, pretrain, train
    from vnaw.data import commands as data_commands

    # In pipeline order: data → faces → pretrain → extract → train → evaluate → experiments →
    # predict → export; demo.
    return [
        data_commands.add_parser,
        faces.add_parser,
        pretrain.add_parser,
        features.add_parser,
        train.add_parser,
        evaluate.add_parser,
        experiments.add_parsers,
        predict.add_parser,
        export.add_parser,
        demo.add_parser,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
