"""A simulated full disk: files opened for writing under one folder accept ``budget`` bytes in all,
then a write stores what still fits and raises ``OSError(ENOSPC)`` — as a real full disk does.

It patches ``builtins.open``, through which Python-level writers go (our atomic writes, numpy,
pandas, matplotlib, PIL, Lightning's CSV logger); a writer in C (an ffmpeg muxer) is not covered.
"""

from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path
from typing import Any


class _Budgeted:
    def __init__(self, f: Any, state: dict[str, int]) -> None:
        self._f, self._state = f, state

    def write(self, data) -> int:
        n = len(data) if isinstance(data, str) else memoryview(data).nbytes
        left = self._state["left"]
        if n > left:
            if left:
                self._f.write(data[:left] if isinstance(data, str) else bytes(data)[:left])
            self._state["left"] = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._state["left"] = left - n
        return self._f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()

    def __iter__(self):
        return iter(self._f)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def fill_disk(monkeypatch, folder: Path, budget: int) -> dict[str, int]:
    """From now on, at most ``budget`` more bytes can be written under ``folder``; returns the
    state (``state["left"]``: bytes still free)."""
    real_open = builtins.open
    state = {"left": budget}
    root = str(Path(folder).resolve())

    def budgeted_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            if str(Path(file).resolve()).startswith(root):
                return _Budgeted(f, state)
        return f

    monkeypatch.setattr(builtins, "open", budgeted_open)
    return state
