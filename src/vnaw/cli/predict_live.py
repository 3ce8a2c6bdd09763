"""``vnaw predict SOURCE --live``: a camera, a network stream, standard input (or a file read as if
it were live) analysed as it plays (:mod:`vnaw.inference.live`), its outputs written as it goes
(:mod:`vnaw.inference.live_outputs`), optionally watched in a browser (``--serve``,
:mod:`vnaw.inference.live_view`).

Ctrl-C, SIGTERM, ``--duration`` and the end of the stream all stop it the same way: the frame
being analysed is finished, every output is completed, exit status 0.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

DEFAULT_PORT = 8765


def add_live_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="analyse as the source plays, skipping frames rather than falling behind (the "
        "table says which were analysed); outputs are written as it goes (default: on for a "
        "camera, stream or stdin; a file read live is paced by its timestamps)",
    )
    p.add_argument(
        "--duration", type=float, metavar="S", help="live: stop after S seconds of the source"
    )
    p.add_argument(
        "--calibrate",
        type=float,
        metavar="S",
        help="live: each face's first S seconds are the person at rest, the baseline of its "
        "relative scores (default: the most neutral of the frames seen so far)",
    )
    p.add_argument(
        "--serve",
        nargs="?",
        type=int,
        const=DEFAULT_PORT,
        metavar="PORT",
        help=f"live: show the analysis on a local page, http://127.0.0.1:PORT/ (default "
        f"{DEFAULT_PORT})",
    )
    p.add_argument(
        "--serve-host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address the page is served on (default 127.0.0.1, this computer only)",
    )
    p.add_argument(
        "--open-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="live: seconds to wait for a network source before giving up",
    )


def is_live(args: argparse.Namespace) -> bool:
    """Whether ``vnaw predict`` takes the live path: ``--live``, or a source that is no file."""
    from vnaw.faces.sources import is_live_source

    return bool(args.live) or is_live_source(args.input)


def check_live_arguments(args: argparse.Namespace) -> None:
    """Refuse, before any work, options that do not fit the path taken."""
    from vnaw.errors import ConfigError

    if not is_live(args):
        for flag in ("duration", "calibrate", "serve"):
            if getattr(args, flag) is not None:
                raise ConfigError(
                    f"--{flag} is for live input (a camera, a stream URL, -, or a file with --live)"
                )
        return

    for name in ("duration", "open_timeout", "calibrate"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive number of seconds")
    for flag in ("overlay", "report", "abaw_test_list"):
        if getattr(args, flag, None):
            raise ConfigError(
                f"--{flag.replace('_', '-')} needs the whole video and is not available live; "
                "run vnaw predict on a recording of the stream instead"
            )
    for flag in ("shard", "ray"):
        if getattr(args, flag, None):
            raise ConfigError(f"--{flag} shares out the videos of a folder, not a live source")


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (the analysis then finishes its frame and every output)
    instead of interrupting: a row is never cut in half. A second Ctrl-C does the same."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are only delivered to the main thread
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, lambda *_: stop.set())
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def predict_live(args: argparse.Namespace, out: Path, model, face_config, given=None) -> int:
    """Run the live analysis of ``args.input``; ``given``: the ``--baseline PATH`` baselines."""
    from vnaw.files import output_lock
    from vnaw.inference.live import LiveAnalysis, relative_scores
    from vnaw.inference.live_outputs import LiveOutputs

    relative = relative_scores(getattr(args, "baseline", "auto"), args.calibrate, given)
    analysis = LiveAnalysis(
        args.input,
        model,
        live=args.live,
        duration=args.duration,
        face_config=face_config,
        detector=args.detector,
        detector_weights=args.detector_weights,
        open_timeout=args.open_timeout,
        relative=relative,
    )
    frames = iter(analysis)
    view = None
    with contextlib.closing(frames), stop_on_signals(analysis.stop):
        first = next(frames, None)  # opens the source: one that cannot be opened fails here
        with output_lock(out, "predict"):
            outputs = LiveOutputs(out, analysis.key, analysis.columns, args.format, analysis.note)
            try:
                if args.serve is not None:
                    from vnaw.inference.live_view import LiveView

                    view = LiveView(analysis.key, args.serve, args.serve_host)
                    _say(f"live view at {view.url}")
                if not args.quiet:
                    _say(f"reading {args.input}; rows go to {outputs.table} (Ctrl-C stops)")
                for frame in _chain(first, frames):
                    outputs.add(frame)
                    if view is not None:
                        stats = {"analysed": analysis.analysed, "skipped": analysis.skipped}
                        view.publish(frame, stats)
            finally:
                frames.close()  # the source is closed whatever stopped the loop
                written = outputs.close()
                if view is not None:
                    view.close()
    for line in analysis.warnings:
        _say(f"warning: {line}")
    share = analysis.analysed / max(analysis.frames, 1)
    _say(
        f"{analysis.frames} frames, {analysis.analysed} analysed ({share:.0%}), "
        f"{analysis.skipped} skipped ({analysis.note}); wrote {', '.join(map(str, written))}"
    )
    return 0


def _chain(first, rest):
    if first is not None:
        yield first
        yield from rest


def _say(line: str) -> None:
    print(f"predict: {line}", file=sys.stderr, flush=True)
