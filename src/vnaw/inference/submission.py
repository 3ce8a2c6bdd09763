"""The ABAW test-set submission file (design §3.1): the organisers' list in, one label per line out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vnaw.errors import DataError
from vnaw.labels import AFFWILD2_HEADER

SUBMISSION_HEADER = "image_location," + AFFWILD2_HEADER  # design §3.1


def read_test_list(path: str | Path) -> list[tuple[str, int]]:
    """The organisers' list (design §3.1): ``(video, 1-based frame)`` per line, in file order.

    Lines are ``<video>/<k:05d>.jpg`` optionally followed by ``,…``; a header line is skipped.
    """
    items = []
    for i, line in enumerate(Path(path).read_text().splitlines()):
        loc = line.split(",")[0].strip()
        if not loc or (i == 0 and loc == "image_location"):
            continue
        video, _, image = loc.rpartition("/")
        if not video or not image.endswith(".jpg") or not image[:-4].isdigit():
            raise DataError(path, f"expected <video>/<k:05d>.jpg, got {loc!r}", i + 1)
        items.append((video, int(image[:-4])))
    return items


def submission_lines(
    test_list: list[tuple[str, int]], preds: dict[str, np.ndarray], source: str | Path = "test list"
) -> list[str]:
    """Header + ``<video>/<k:05d>.jpg,<class index>`` per test-list entry, in order (design §3.1).

    A frame past the end of its predictions (the organisers counted one more) takes the last one.
    """
    missing = sorted({v for v, _ in test_list if v not in preds})
    if missing:
        raise DataError(
            source,
            f"it names {len(missing)} video(s)/track(s) without predictions: "
            f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}",
        )
    lines = [SUBMISSION_HEADER]
    for video, k in test_list:
        pr = preds[video]
        lines.append(f"{video}/{k:05d}.jpg,{int(pr[min(k, len(pr)) - 1])}")
    return lines
