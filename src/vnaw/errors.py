"""Typed errors: what the library raises for bad input, and what the command line reports.

Every error here is a user error — a file or a setting that cannot be used as given — and its
message names the file (and the line, where there is one) and what to do. The command line
(:mod:`vnaw.cli`) prints such an error as one line on stderr and exits with status 2; anything else
is a bug and keeps its traceback. Each class also derives from the built-in exception that callers
of the library would catch anyway (``ValueError``, ``RuntimeError``).
"""

from __future__ import annotations

import os
from pathlib import Path


class VnawError(Exception):
    """Base of the errors that the command line reports as one line (exit status 2)."""


class ConfigError(VnawError, ValueError):
    """A configuration file, override or command-line option that does not fit."""


class DataError(VnawError, ValueError):
    """A data set file or folder that cannot be read as its format says; names file and line."""

    def __init__(self, path: str | os.PathLike[str], message: str, line: int | None = None):
        self.path, self.line = Path(path), line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class ModelFileError(VnawError, ValueError):
    """A weights, encoder, checkpoint or run file that is missing, unreadable or of the wrong shape."""


class StoreError(VnawError, ValueError):
    """A feature store that cannot be used as asked (mixed encoders, missing videos, …)."""


class VideoError(VnawError, RuntimeError):
    """A file that cannot be read as a video; the message names the file."""
