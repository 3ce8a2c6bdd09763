"""The ``vnaw`` command line: one parser, one module per command, one error boundary.

Each module of this package registers its command with ``add_parser(subparsers)`` and sets
``func(args) -> int`` (the exit status). Building the parser imports argparse and nothing else:
a command imports the library (torch, Lightning, ONNX Runtime, …) only when it runs, so ``vnaw
--help`` and every ``vnaw CMD --help`` answer at once.

Errors: the library raises :class:`~vnaw.errors.VnawError` (bad data, configuration, model file,
video) and ``OSError`` (missing file, full disk); :func:`main` prints either as one line naming
the file and exits with status 2. Any other exception reaching :func:`main` is one line too (exit
status 2), marked "unexpected" with a hint to rerun with ``--debug``: a bad input should never
show a traceback, and an unforeseen one stays distinguishable from the checked ones. ``--debug``
shows the traceback instead. A command that needs an optional extra that is not installed (the
training stack in the light install) says which, in one line, also with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from vnaw import __version__
from vnaw.errors import VnawError

# In pipeline order. Module names under vnaw.cli; each registers one or more commands.
COMMAND_MODULES = (
    "data",
    "faces",
    "pretrain",
    "extract",
    "train",
    "evaluate",
    "experiments",
    "submit",
    "predict",
    "export",
    "demo",
    "info",
)


class CommandParser(argparse.ArgumentParser):
    """A command's parser that may have actions (``vnaw pretrain evaluate …``) besides optional
    positionals of its own (``vnaw pretrain [CONFIG] [KEY=VALUE …]``): argparse's sub-parsers
    cannot follow optional positionals, so the first word chooses, before argparse sees the rest."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.actions: dict[str, argparse.ArgumentParser] = {}

    def add_action(self, name: str, **kwargs) -> argparse.ArgumentParser:
        """A parser for ``<command> NAME …``; its defaults (``func``) replace the command's."""
        action = argparse.ArgumentParser(prog=f"{self.prog} {name}", **kwargs)
        self.actions[name] = action
        return action

    def parse_known_args(self, args=None, namespace=None):
        if args and args[0] in self.actions:
            return self.actions[args[0]].parse_known_args(args[1:], namespace)
        return super().parse_known_args(args, namespace)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vnaw",
        description="Video facial-expression recognition with V-NAW (8 Aff-Wild2 classes).",
    )
    parser.add_argument("--version", action="version", version=f"vnaw {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"vnaw.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, not only before the command
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--debug"])
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    formatwarning = warnings.formatwarning
    if not debug:  # a warning is one line, as an error is; --debug shows where it came from
        warnings.formatwarning = lambda msg, *_, **__: f"vnaw {args.command}: warning: {msg}\n"
    try:
        return int(args.func(args) or 0)
    except (VnawError, OSError) as err:
        if debug:
            raise
        print(f"vnaw {args.command}: error: {describe(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vnaw {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # not foreseen: still one line, but marked as a fault of vnaw
        if debug:
            raise
        extra = missing_extra(err) if isinstance(err, ModuleNotFoundError) else None
        if extra is not None:  # an optional extra, not installed: say which
            print(
                f"vnaw {args.command}: error: needs {err.name}, which is not installed: "
                f'pip install "vnaw[{extra}]"',
                file=sys.stderr,
            )
        else:
            print(f"vnaw {args.command}: error: {describe_unexpected(err)}", file=sys.stderr)
        return 2
    finally:  # main() is also called in-process (tests, notebooks): leave warnings as they were
        warnings.formatwarning = formatwarning


# Top-level modules of the optional extras (pyproject.toml) → the extra that installs them.
EXTRAS = {
    **dict.fromkeys(
        ("torch", "torchvision", "timm", "lightning", "torchmetrics", "onnx", "onnxscript"), "train"
    ),
    "pyarrow": "parquet",
    **dict.fromkeys(("sklearn", "skimage"), "dev"),
}


def missing_extra(err: ModuleNotFoundError) -> str | None:
    """The extra to install for a missing module (``None``: not one of the extras')."""
    return EXTRAS.get((err.name or "").split(".")[0])


def describe(err: BaseException) -> str:
    """One line for a user error; an ``OSError`` names its file and, for a full disk, says so."""
    from vnaw.files import describe_os_error

    if isinstance(err, OSError):
        return describe_os_error(err)
    text = _original_message(str(err))
    return text.splitlines()[0] if text else type(err).__name__


def _original_message(text: str) -> str:
    """The message of an error raised in a data-loader worker, which torch re-raises as
    "Caught X in DataLoader worker process N. Original Traceback …: X: message"."""
    if text.startswith("Caught ") and "\nOriginal Traceback" in text:
        last = text.rstrip().splitlines()[-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return text


def describe_unexpected(err: BaseException) -> str:
    """One line for an exception no part of vnaw turned into a user error: the file it names
    where it names one, what it says, and how to see where it happened."""
    from vnaw.files import one_line

    where = next(
        (
            f"{one_line(str(v))}: "
            for v in (getattr(err, "filename", None), getattr(err, "path", None))
            if v
        ),
        "",
    )
    what = " ".join(_original_message(str(err)).split())[:300]
    return (
        f"{where}unexpected {type(err).__name__}{': ' + what if what else ''} "
        "(a fault of vnaw or an input it does not check; rerun with --debug for the traceback)"
    )


if __name__ == "__main__":
    sys.exit(main())
