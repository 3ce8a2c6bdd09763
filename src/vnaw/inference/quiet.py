"""Keep native libraries' log lines off the terminal.

Native code may log straight to file descriptor 2, before any logging is initialised, where no
environment variable or Python logger reaches it (MediaPipe's absl and TFLite lines did, when
vnaw used MediaPipe). The libraries vnaw now runs (ONNX Runtime with its log level at errors,
PyAV, OpenCV) are quiet, and this stays as a guard for ``vnaw predict``. So
:func:`native_stderr_silenced` points
descriptor 2 at ``/dev/null`` and gives Python's ``sys.stderr`` (progress bars, warnings, errors)
a copy of the real one. ``vnaw predict -v`` leaves everything as it is.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator

LOG_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}  # for the libraries that read them


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    if not enabled:
        yield
        return
    for key, value in LOG_ENV.items():
        os.environ.setdefault(key, value)
    try:
        python_uses_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, io.UnsupportedOperation):
        python_uses_fd2 = False  # already redirected (pytest, a notebook): leave it
    sys.stderr.flush()
    saved = os.dup(2)
    old_stderr = sys.stderr
    try:
        if python_uses_fd2:
            sys.stderr = io.TextIOWrapper(
                os.fdopen(os.dup(saved), "wb", buffering=0), write_through=True, errors="replace"
            )
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        if sys.stderr is not old_stderr:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = old_stderr
        os.dup2(saved, 2)
        os.close(saved)
