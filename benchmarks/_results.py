"""Results files of the benchmarks: ``--json PATH`` writes one run's figures with the machine and
commit that produced them; ``benchmarks/make_results.py`` renders a folder of such files into
``benchmarks/RESULTS.md``.

A file holds ``benchmark`` (the script's name), ``command`` (how it was run, without ``--json``),
``machine`` (UTC date, commit, CPU model, core count, load average at the end, Python) and
``figures``: names mapped to numbers or strings, or to lists of rows (dicts) for tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def add_json_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="also write this run's figures (with date, commit, CPU model, core count) to PATH; "
        "benchmarks/make_results.py collects such files into benchmarks/RESULTS.md",
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit() -> str:
    """Short hash of the checkout the benchmark ran from, ``+dirty`` when tracked files differ."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "cpu": cpu_model(),
        "cores": usable,
        "load_average": None if load is None else round(load, 2),
        "python": platform.python_version(),
    }


def command(argv: list[str] | None = None) -> str:
    """``python benchmarks/NAME.py ARGS`` as run, without ``--json PATH``."""
    argv = list(sys.argv if argv is None else argv)
    args, skip = [], False
    for a in argv[1:]:
        if skip:
            skip = False
        elif a == "--json":
            skip = True
        elif not a.startswith("--json="):
            args.append(a)
    return shlex.join(["python", f"benchmarks/{Path(argv[0]).name}", *args])


def write_results(
    path: Path | None, figures: dict[str, Any], argv: list[str] | None = None
) -> None:
    """Write ``figures`` to ``path`` (nothing when ``path`` is None), atomically."""
    if path is None:
        return
    from vnaw.files import atomic_json

    argv = list(sys.argv if argv is None else argv)
    record = {
        "benchmark": Path(argv[0]).stem,
        "command": command(argv),
        "machine": machine(),
        "figures": figures,
    }
    json.dumps(record)  # fails here, before any file is touched, on a value JSON cannot hold
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_json(path, record)
    print(f"wrote {path}", file=sys.stderr)
