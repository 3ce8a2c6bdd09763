"""Which output belongs to which video in ``vnaw faces``: one name per video, never shared.

Outputs are keyed by the video's file stem (``cam1/clip.mp4`` → ``faces/clip.csv`` and
``cropped_aligned/clip…``), because Aff-Wild2 annotation files are matched to crops by that name.
Two inputs with one stem (``cam1/clip.mp4`` and ``cam2/clip.mp4``, or ``x.mp4`` beside ``x.avi``)
would share one output, so they are refused before any work, naming both paths. Across runs, each
finished video records which file it came from (``faces/<stem>.source``: size and a hash of the
first MiB, so a moved or copied video is still recognised); a different video with a stem that is
already finished in the output folder is refused too, instead of being skipped as "already done".
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from vnaw.errors import VideoError
from vnaw.files import atomic_text

FACES_DIR = "faces"  # per-video CSVs (the commit markers of `vnaw faces`)


def check_unique_stems(videos: Sequence[Path]) -> None:
    """A :class:`VideoError` naming both paths if two videos share a file stem."""
    seen: dict[str, Path] = {}
    for v in videos:
        other = seen.setdefault(v.stem, v)
        if other != v:
            raise VideoError(
                f"{v}: same name {v.stem!r} as {other}; both would write faces/{v.stem}.csv and "
                "cropped_aligned/"
                f"{v.stem}: rename one, or run them into different --out folders"
            )


def source_id(video: Path) -> str:
    """Identity of a video file: its size and the SHA-256 of its first MiB."""
    with open(video, "rb") as f:
        head = f.read(1 << 20)
    return f"{video.stat().st_size} {hashlib.sha256(head).hexdigest()[:16]}"


def source_file(root: Path, stem: str) -> Path:
    return root / FACES_DIR / f"{stem}.source"


def record_source(video: Path, root: Path) -> None:
    """Remember which file produced ``root``'s outputs named ``video.stem`` (before the CSV)."""
    atomic_text(source_file(root, video.stem), f"{source_id(video)} {video}\n")


def check_same_source(video: Path, root: Path) -> None:
    """A :class:`VideoError` if ``root`` holds finished outputs of another file with this stem."""
    recorded = source_file(root, video.stem)
    if not recorded.is_file() or not video.is_file():
        return  # finished by an older vnaw (no record), or the video is gone: nothing to compare
    size, digest, *origin = recorded.read_text().split(" ", 2)
    if f"{size} {digest}" != source_id(video):
        raise VideoError(
            f"{video}: {root / FACES_DIR / video.stem}.csv already holds the faces of another "
            f"video with the same name ({' '.join(origin).strip() or 'unknown'}); rename this "
            "one, use another --out, or --overwrite"
        )
