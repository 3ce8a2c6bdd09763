"""Aff-Wild2 EXPR reader — design §3.1.

Indexes a dataset root into one :class:`VideoRecord` per annotation file (one per video, or one per
subject ``<video>_left`` / ``<video>_right`` when two people are in view)::

    ANN/Train_Set/<name>.txt            line 1: the header; line k+1: label of frame k (−1..7)
    ANN/Validation_Set/<name>.txt
    ROOT/cropped_aligned*/<name>/<k:05d>.jpg  face crop of frame k (1-based); may be missing
    ROOT/batch*/<video>.mp4|.avi              raw videos, optional, named without the suffix

``ROOT`` is the release root as the organisers ship it: ``ANN`` is the EXPR folder of the
annotation archive wherever it lies below (found by content: the AU and VA challenge folders
beside it have other headers), and the crops may be split over several ``cropped_aligned*``
folders (``cropped_aligned/``, ``cropped_aligned_new_50_vids/``).

Everything is validated while reading; every error is a :class:`DataError` that names the file and,
where there is one, the line (``path:line: message``), so a user can open the culprit directly.

Frame indices in this package are 0-based (``labels[k]`` is frame ``k + 1`` of the annotation,
image ``cropped_aligned/<name>/<k+1:05d>.jpg``); only file names and ``predict`` tables are 1-based.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vnaw.errors import DataError
from vnaw.files import atomic_text
from vnaw.labels import AFFWILD2_HEADER, IGNORE_INDEX, NUM_CLASSES

SPLITS: tuple[str, ...] = ("Train_Set", "Validation_Set")
CROPS_DIR = "cropped_aligned"
VIDEO_SUFFIXES = (".mp4", ".avi")
_SUBJECT_SUFFIX = re.compile(r"_(left|right)$")
_CROP_NAME = re.compile(r"^(\d{5})\.jpg$")


@dataclass(frozen=True, eq=False)
class VideoRecord:
    """One annotated face track of Aff-Wild2 (one annotation file).

    ``labels[k]`` is the label of frame ``k + 1`` (−1 = no valid label); ``has_crop[k]`` says
    whether ``cropped_aligned/<name>/<k+1:05d>.jpg`` exists.
    """

    name: str
    split: str
    annotation: Path
    crop_dir: Path
    labels: np.ndarray = field(repr=False)  # (N,) int64
    has_crop: np.ndarray = field(repr=False)  # (N,) bool
    video: Path | None = None

    @property
    def num_frames(self) -> int:
        return int(self.labels.shape[0])

    @property
    def source(self) -> str:
        """The source video: ``name`` without a ``_left`` / ``_right`` subject suffix."""
        return source_video(self.name)

    def crop_path(self, k: int) -> Path:
        """Path of the crop of 0-based frame ``k`` (it may not exist: see ``has_crop``)."""
        return self.crop_dir / f"{k + 1:05d}.jpg"

    def nearest_crop(self) -> np.ndarray:
        """``(N,)`` index of the nearest frame with a crop, for every frame (design §3.1)."""
        return nearest_crop_index(self.has_crop)


def source_video(name: str) -> str:
    """Strip the ``_left`` / ``_right`` subject suffix: both subjects share one source video."""
    return _SUBJECT_SUFFIX.sub("", name)


def nearest_crop_index(has_crop: np.ndarray) -> np.ndarray:
    """For each frame, the index of the nearest frame that has a crop (itself if it has one).

    Ties (a gap of even length) go to the earlier frame. Raises ``ValueError`` if no frame has a
    crop, because then no image can stand in.
    """
    has_crop = np.asarray(has_crop, dtype=bool)
    n = has_crop.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if not has_crop.any():
        raise ValueError("no frame has a crop")
    idx = np.arange(n)
    # Last crop at or before k, and first crop at or after k (sentinels where there is none).
    prev = np.maximum.accumulate(np.where(has_crop, idx, -1))
    nxt = np.minimum.accumulate(np.where(has_crop, idx, n)[::-1])[::-1]
    d_prev = np.where(prev >= 0, idx - prev, n + 1)
    d_next = np.where(nxt < n, nxt - idx, n + 1)
    return np.where(d_prev <= d_next, prev, nxt).astype(np.int64)


def parse_annotation(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one EXPR annotation file into an ``(N,)`` int64 label array (design §3.1).

    Line 1 must be exactly the header; line ``k + 1`` holds the integer label (−1..7) of frame
    ``k``. Trailing blank lines are tolerated (editors add them); a blank line in between is not.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: tolerate a byte-order mark
    except UnicodeDecodeError as err:
        raise DataError(path, f"not UTF-8 text ({err.reason})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(path, "empty file; expected the header on line 1", line=1)
    if lines[0].strip() != AFFWILD2_HEADER:
        raise DataError(
            path, f"wrong header {lines[0].strip()!r}; expected {AFFWILD2_HEADER!r}", line=1
        )
    labels = np.empty(len(lines) - 1, dtype=np.int64)
    for i, raw in enumerate(lines[1:]):
        s = raw.strip()
        try:
            value = int(s)
        except ValueError:
            raise DataError(path, f"not an integer label: {s!r}", line=i + 2) from None
        if not IGNORE_INDEX <= value < NUM_CLASSES:
            raise DataError(
                path,
                f"label {value} outside {IGNORE_INDEX}..{NUM_CLASSES - 1}",
                line=i + 2,
            )
        labels[i] = value
    if labels.size == 0:
        raise DataError(path, "no frames: the file holds only the header", line=1)
    return labels


def scan_crops(crop_dir: Path, num_frames: int, annotation: Path) -> np.ndarray:
    """``(num_frames,)`` bool: which frames have a crop in ``crop_dir``.

    Errors name the annotation file (the crop folder belongs to it): a missing folder, an empty
    one, and a crop numbered 0 or beyond the annotation's last frame (line ``num_frames + 1``).
    Files not named ``<k:05d>.jpg`` are ignored.
    """
    if not crop_dir.is_dir():
        raise DataError(annotation, f"crop folder {crop_dir} is missing")
    has_crop = np.zeros(num_frames, dtype=bool)
    for entry in os.scandir(crop_dir):  # scandir: real folders hold thousands of files
        m = _CROP_NAME.match(entry.name)
        if m is None:
            continue
        k = int(m.group(1))
        if not 1 <= k <= num_frames:
            raise DataError(
                annotation,
                f"crop {crop_dir / entry.name} is frame {k}, but the annotation has frames "
                f"1..{num_frames} (last line {num_frames + 1})",
                line=num_frames + 1,
            )
        has_crop[k - 1] = True
    if not has_crop.any():
        raise DataError(annotation, f"crop folder {crop_dir} holds no <k:05d>.jpg crops")
    return has_crop


@dataclass(frozen=True)
class Layout:
    """Where a release keeps the EXPR annotations and the crops (design §3.1)."""

    annotations: Path  # the folder holding Train_Set/ and Validation_Set/
    crop_roots: tuple[Path, ...]  # every cropped_aligned* folder

    def describe(self) -> str:
        roots = ", ".join(str(r) for r in self.crop_roots)
        return f"annotations: {self.annotations}; crops: {roots}"

    def crop_dir(self, name: str, annotation: Path) -> Path:
        """The one crop folder of track ``name``; an error names both if two releases hold it."""
        found = [r / name for r in self.crop_roots if (r / name).is_dir()]
        if len(found) > 1:
            raise DataError(
                annotation, f"crops of {name} are in two folders: {found[0]} and {found[1]}"
            )
        if not found:
            where = " or ".join(str(r / name) for r in self.crop_roots)
            raise DataError(annotation, f"crop folder {where} is missing")
        return found[0]


def _is_expr_split(folder: Path) -> bool:
    """A Train_Set/Validation_Set folder whose annotation files start with the EXPR header (the
    AU and VA challenges ship folders of the same names with other headers)."""
    first = next(iter(sorted(folder.glob("*.txt"))), None)
    if first is None:
        return False
    with open(first, encoding="utf-8", errors="replace") as f:
        return f.readline().strip() == AFFWILD2_HEADER


def find_annotations(root: Path) -> Path:
    """The EXPR annotation folder under a release root, found by content, whatever its edition
    names it (``EXPR_Set``, ``EXPR_Classification_Challenge``, ``EXPR_Recognition_Challenge``, …).

    Searches ``root`` and up to four levels below for ``Train_Set``/``Validation_Set`` folders of
    EXPR files. The synthetic data's ``clean/`` labels are never picked up implicitly; several
    candidates are an error (set ``data.annotations``) rather than a guess.
    """
    candidates = set()
    for depth in range(5):
        for split in SPLITS:
            for d in root.glob("/".join(["*"] * depth + [split])):
                rel = d.relative_to(root).parts[:-1]
                if "clean" in rel or any(part.startswith(CROPS_DIR) for part in rel):
                    continue
                if d.is_dir() and _is_expr_split(d):
                    candidates.add(d.parent)
    if not candidates:
        raise DataError(
            root, "no EXPR annotation folder (Train_Set/ or Validation_Set/ of EXPR files) found"
        )
    if len(candidates) > 1:
        listed = ", ".join(str(p) for p in sorted(candidates))
        raise DataError(root, f"several EXPR annotation folders ({listed}); set data.annotations")
    return candidates.pop()


def find_layout(
    root: Path, annotations: str | os.PathLike[str] | None = None, crops: Sequence[Path] = ()
) -> Layout:
    """Annotation folder (given, or found by content) and crop folders (given, or every
    ``cropped_aligned*`` folder of the release root)."""
    if not root.is_dir():
        raise DataError(root, "data set folder not found")
    ann = Path(annotations) if annotations is not None else find_annotations(root)
    if not ann.is_dir():
        raise DataError(ann, "annotation folder not found")
    return Layout(ann, tuple(crops) or find_crop_roots(root))


def find_crop_roots(root: Path) -> tuple[Path, ...]:
    """Every ``cropped_aligned*`` folder of a release root (the crops ship in several)."""
    roots = tuple(p for p in sorted(root.glob(f"{CROPS_DIR}*")) if p.is_dir())
    if not roots:
        raise DataError(root, f"no crop folder ({CROPS_DIR}*/) in the data set")
    return roots


def find_raw_videos(root: Path) -> dict[str, Path]:
    """Raw videos under ``ROOT/batch*/`` (and ``ROOT/videos/``), keyed by file stem."""
    out: dict[str, Path] = {}
    for folder in [*sorted(root.glob("batch*")), root / "videos"]:
        if folder.is_dir():
            for p in sorted(folder.iterdir()):
                if p.suffix.lower() in VIDEO_SUFFIXES:
                    out.setdefault(p.stem, p)
    return out


def read_video(
    annotation: Path, split: str, layout: Layout, raw_videos: dict[str, Path] | None = None
) -> VideoRecord:
    """Read and validate one annotation file and its crop folder into a :class:`VideoRecord`."""
    labels = parse_annotation(annotation)
    name = annotation.stem
    crop_dir = layout.crop_dir(name, annotation)
    has_crop = scan_crops(crop_dir, labels.shape[0], annotation)
    video = (raw_videos or {}).get(source_video(name))
    return VideoRecord(name, split, annotation, crop_dir, labels, has_crop, video)


def index_dataset(
    root: str | os.PathLike[str],
    splits: Sequence[str] = SPLITS,
    *,
    annotations: str | os.PathLike[str] | None = None,
    crops: Sequence[str | os.PathLike[str]] = (),
    skip_bad: bool = False,
) -> list[VideoRecord]:
    """Index an Aff-Wild2 EXPR root — the organisers' release as shipped — into records, sorted
    by split then name (design §3.1).

    Args:
        root: data set (release) root.
        splits: which annotation folders to read.
        annotations: folder that holds the split folders (default: found by content, see
            :func:`find_annotations`).
        crops: crop folders (default: every ``root/cropped_aligned*`` folder).
        skip_bad: warn about and skip a malformed video instead of raising :class:`DataError`.
    """
    root = Path(root)
    layout = find_layout(root, annotations, [Path(c) for c in crops])
    raw = find_raw_videos(root)
    records: list[VideoRecord] = []
    seen: dict[str, Path] = {}
    for split in splits:
        for ann in sorted((layout.annotations / split).glob("*.txt")):
            try:
                if ann.stem in seen:
                    raise DataError(
                        ann, f"video {ann.stem} is annotated twice (also {seen[ann.stem]})"
                    )
                rec = read_video(ann, split, layout, raw)
            except DataError as err:
                if not skip_bad:
                    raise
                warnings.warn(f"skipping bad video: {err}", stacklevel=2)
                continue
            seen[rec.name] = ann
            records.append(rec)
    if not records:
        raise DataError(layout.annotations, f"no annotation files for splits {', '.join(splits)}")
    return records


def write_annotation(path: str | os.PathLike[str], labels: Iterable[int]) -> None:
    """Write an EXPR annotation file (header + one label per line), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{int(v)}\n" for v in labels)
    atomic_text(path, f"{AFFWILD2_HEADER}\n{body}")


def records_by_name(records: Iterable[VideoRecord]) -> dict[str, VideoRecord]:
    return {r.name: r for r in records}


def clean_records(root: str | os.PathLike[str]) -> dict[str, VideoRecord] | None:
    """Records of the ``clean/`` annotations that synthetic data keeps beside the noisy ones
    (design §9), by name; ``None`` when ``root`` has none (real data)."""
    clean = Path(root) / "clean"
    return records_by_name(index_dataset(root, annotations=clean)) if clean.is_dir() else None
