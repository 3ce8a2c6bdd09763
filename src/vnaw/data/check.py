"""Up-front checks of an indexed data set: every crop opens and decodes, every split can train.

``vnaw data stats --check``, ``vnaw extract`` and ``vnaw train`` (end-to-end mode) run
:func:`checked_records` before any work, so an unreadable crop is one error naming the file at the
start — not a crash hours later when a training step happens to sample it. With ``--skip-bad``
(``data.skip_bad``) a video with a bad crop is left out instead, and each one is reported.
A video is skipped whole, not frame by frame: ``extract`` and ``train`` then agree on its frames.

A crop is bad when it is empty, is not an image, is truncated (decoded to the last byte, at 1/8
scale for JPEG, which is cheap), or is smaller than :data:`MIN_SIDE` pixels.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vnaw.data.affwild2 import VideoRecord
from vnaw.errors import DataError

MIN_SIDE = 8  # pixels; a smaller crop is a broken detection, not a face


def crop_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable crop, or ``None`` if it is."""
    from PIL import Image

    try:
        if path.stat().st_size == 0:
            return "empty file"
        with Image.open(path) as im:
            size = im.size
            im.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))  # JPEG: decode at 1/8
            im.load()
    except OSError as err:  # PIL's UnidentifiedImageError and "image file is truncated" included
        return f"unreadable image ({str(err).splitlines()[0] or type(err).__name__})"
    except Exception as err:  # a decoder error that is not an OSError (corrupt headers)
        return f"unreadable image ({type(err).__name__}: {err})"
    if min(size) < MIN_SIDE:
        return f"{size[0]}×{size[1]} pixels (smaller than {MIN_SIDE})"
    return None


def find_bad_crops(
    records: Sequence[VideoRecord], workers: int | None = None
) -> dict[str, tuple[Path, str]]:
    """``{video: (first bad crop, why)}`` over every crop the records list (threads: decoding
    releases the GIL)."""
    paths = [(r.name, r.crop_path(int(k))) for r in records for k in np.flatnonzero(r.has_crop)]
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        problems = pool.map(crop_problem, (p for _, p in paths), chunksize=64)
        bad: dict[str, tuple[Path, str]] = {}
        for (name, path), why in zip(paths, problems, strict=True):
            if why is not None and name not in bad:
                bad[name] = (path, why)
    return bad


def checked_records(
    records: Sequence[VideoRecord], *, skip_bad: bool = False, workers: int | None = None
) -> list[VideoRecord]:
    """``records`` after checking every crop: a :class:`DataError` naming the first bad crop, or
    with ``skip_bad`` the records without the videos that have one (each reported on stderr)."""
    bad = find_bad_crops(records, workers)
    if bad and not skip_bad:
        name = next(r.name for r in records if r.name in bad)
        path, why = bad[name]
        more = f" ({len(bad) - 1} more videos have bad crops)" if len(bad) > 1 else ""
        raise DataError(path, f"{why}{more}; fix it or use --skip-bad to leave such videos out")
    for name, (path, why) in bad.items():
        print(f"skipping video {name}: {path}: {why}", file=sys.stderr)
    return [r for r in records if r.name not in bad]


def require_labels(records: Sequence[VideoRecord], what: str, where: str | Path) -> None:
    """A :class:`DataError` if no frame of ``records`` has a valid label (training would "succeed"
    with a loss of 0 and learn nothing)."""
    if not any(bool((r.labels >= 0).any()) for r in records):
        n = len(records)
        raise DataError(
            where, f"no valid label in the {what} set ({n} videos, every frame -1 or none)"
        )
