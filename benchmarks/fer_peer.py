"""Shared by the benchmarks that run the ``fer`` peer in its own Python (set-up: predict_speed.py)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def python_program(value: str) -> str:
    """``--fer-python`` as an absolute path (``fer`` runs in a temporary working directory, where
    a relative path would not resolve); a missing program is a usage error."""
    found = shutil.which(value)
    if not found:
        raise argparse.ArgumentTypeError(f"{value}: no such program")
    return str(Path(found).absolute())
