"""Static FER image sets for encoder pretraining — design §3.2 (readers), §2 (label space), §5.

Each reader indexes one data set split into an :class:`ImageSet` (image paths, labels in the 8-class
space of design §2, and — for FERPlus — the vote distribution); :func:`concat` combines any mix into
one training set. Images are read later, in one pass, by :func:`load_images`.

Layouts (``ROOT`` is what the user passes)::

    ferplus   ROOT/FER2013{Train,Valid,Test}/label.csv + *.png   (majority protocol, design §3.2)
    rafdb     ROOT/EmoLabel/list_patition_label.txt + ROOT/Image/aligned/<stem>_aligned.jpg
    affectnet ROOT/{training,validation}.csv + ROOT/<subDirectory_filePath>  (or a CSV path)
    folder    ROOT/<class name>/*.{jpg,jpeg,png,bmp}                        (class names of §2)
    muxspace  ROOT/labels.csv + ROOT/images/*.jpg   (fixed person-disjoint split, muxspace.py)
    affwild2  Aff-Wild2 layout (design §3.1) used as images: every n-th labelled frame with a crop

A data spec on the command line is ``reader:ROOT`` or ``reader@split:ROOT`` (split ``train``,
``val`` or ``test``); without ``@split`` the caller's role decides. Every error is a
:class:`DataError` naming the file (and line) at fault.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vnaw.data.imageset import ImageSet, concat, make_set
from vnaw.data.muxspace import read_muxspace  # fixed person-disjoint split
from vnaw.errors import ConfigError, DataError
from vnaw.labels import (
    CLASSES,
    class_index,
    ferplus_majority,
    ferplus_votes_to_distribution,
    from_affectnet,
    from_rafdb,
)

SPLITS: tuple[str, ...] = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FERPLUS_DIRS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
# Sizes of the majority-protocol splits of the FERPlus copy the project benchmarks on (design §3.2).
FERPLUS_MAJORITY_SIZES = {"train": 25045, "val": 3191, "test": 3137}


def _at(where: tuple[Path, int], message: str) -> DataError:
    """A :class:`DataError` for line ``where[1]`` of file ``where[0]``."""
    return DataError(where[0], message, where[1])


def _require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(path, f"{what} not found")
    return path


# -- FERPlus -----------------------------------------------------------------------------------


def parse_ferplus_row(row: list[str], where: tuple[Path, int]) -> tuple[str, list[int]]:
    """One ``label.csv`` row → ``(image name, 10 vote counts)``; ``where`` is ``(path, line)``."""
    # name, "(x, y, w, h)" (one CSV field thanks to the quotes), 10 votes.
    if len(row) != 12:
        raise _at(where, f"expected 12 fields (name, box, 10 votes), got {len(row)}")
    name = row[0].strip()
    if not name:
        raise _at(where, "empty image name")
    try:
        votes = [int(v) for v in row[2:]]
    except ValueError:
        raise _at(where, f"vote counts must be integers, got {row[2:]}") from None
    if any(v < 0 for v in votes):
        raise _at(where, f"negative vote count in {votes}")
    return name, votes


def read_ferplus(root: str | Path, split: str = "train", *, check_images: bool = True) -> ImageSet:
    """FERPlus split under the majority protocol of design §3.2; vote distributions kept.

    ``votes`` are the 8 class counts of :func:`vnaw.labels.ferplus_votes_to_distribution` (raw
    counts, unknown/NF dropped). ``check_images`` verifies each kept PNG exists.
    """
    if split not in FERPLUS_DIRS:
        raise ConfigError(f"FERPlus split must be one of {list(FERPLUS_DIRS)}, got {split!r}")
    folder = Path(root) / FERPLUS_DIRS[split]
    label_csv = _require_file(folder / "label.csv", "FERPlus label.csv")
    paths, labels, votes = [], [], []
    with label_csv.open(newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            name, counts = parse_ferplus_row(row, (label_csv, line_no))
            label = ferplus_majority(counts)
            if label is None:  # no majority, or unknown / NF: left out (design §3.2)
                continue
            path = folder / name
            if check_images and not path.is_file():
                raise DataError(label_csv, f"image {name} not found in {folder}", line_no)
            paths.append(path)
            labels.append(label)
            votes.append(ferplus_votes_to_distribution(counts))
    return make_set(paths, labels, f"ferplus/{split}", votes)


# -- RAF-DB ------------------------------------------------------------------------------------


def read_rafdb(root: str | Path, split: str = "train") -> ImageSet:
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` lines ``train_00001.jpg 5`` (design §3.2).

    The split is the file-name prefix (``train``/``test``); RAF-DB has no validation split, so
    ``val`` reads ``test`` as well.
    """
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
    prefix = "train" if split == "train" else "test"
    root = Path(root)
    label_file = _require_file(root / "EmoLabel" / "list_patition_label.txt", "RAF-DB label list")
    image_dir = root / "Image" / "aligned"
    paths, labels = [], []
    for line_no, line in enumerate(label_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        where = (label_file, line_no)
        if len(parts) != 2:
            raise _at(where, f"expected '<image> <label>', got {line!r}")
        name, raw = parts
        if not name.startswith(("train_", "test_")):
            raise _at(where, f"image name must start with train_ or test_, got {name!r}")
        try:
            label = from_rafdb(int(raw))
        except ValueError as e:
            raise _at(where, str(e)) from None
        if not name.startswith(prefix + "_"):
            continue
        stem = Path(name).stem
        path = image_dir / f"{stem}_aligned{Path(name).suffix}"
        if not path.is_file():
            raise _at(where, f"aligned image {path} not found")
        paths.append(path)
        labels.append(label)
    return make_set(paths, labels, f"rafdb/{prefix}")


# -- AffectNet ---------------------------------------------------------------------------------

AFFECTNET_CSV = {"train": "training.csv", "val": "validation.csv", "test": "validation.csv"}


def read_affectnet(
    root: str | Path, split: str = "train", *, check_images: bool = True
) -> ImageSet:
    """AffectNet official CSV (``subDirectory_filePath, …, expression, …``), design §2/§3.2.

    ``root`` is the folder holding ``training.csv``/``validation.csv`` and the image folders, or a
    CSV file itself (images relative to its folder). Codes 8–10 are dropped. The official test set
    is not public, so ``test`` reads the validation CSV.
    """
    root = Path(root)
    if root.suffix.lower() == ".csv":
        csv_path, image_root = root, root.parent
    else:
        if split not in AFFECTNET_CSV:
            raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
        csv_path, image_root = root / AFFECTNET_CSV[split], root
    _require_file(csv_path, "AffectNet CSV")
    paths, labels = [], []
    with csv_path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataError(csv_path, "empty file")
        header = [h.strip() for h in header]
        for col in ("subDirectory_filePath", "expression"):
            if col not in header:
                raise DataError(csv_path, f"header lacks the column {col!r}", 1)
        i_path, i_expr = header.index("subDirectory_filePath"), header.index("expression")
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            where = (csv_path, line_no)
            if len(row) != len(header):
                raise _at(where, f"{len(row)} fields, header has {len(header)}")
            try:
                label = from_affectnet(int(row[i_expr]))
            except ValueError as e:
                raise _at(where, f"expression {row[i_expr]!r}: {e}") from None
            if label is None:  # None / Uncertain / No-Face: dropped (design §2)
                continue
            path = image_root / row[i_path].strip()
            if check_images and not path.is_file():
                raise _at(where, f"image {path} not found")
            paths.append(path)
            labels.append(label)
    return make_set(paths, labels, f"affectnet/{csv_path.stem}")


# -- folder per class --------------------------------------------------------------------------


def read_folder(root: str | Path, split: str = "train") -> ImageSet:
    """``ROOT/<class name>/*.jpg`` with class names of design §2 (case-insensitive).

    If ``ROOT/<split>/`` exists (``train``/``val``/``test``) it is used as the root, so one folder
    can hold all splits; otherwise ``ROOT`` itself is the set, whatever the split.
    """
    root = Path(root)
    if (root / split).is_dir():
        root = root / split
    if not root.is_dir():
        raise DataError(root, "folder not found")
    paths, labels = [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            label = class_index(sub.name)
        except KeyError as e:
            raise DataError(sub, e.args[0]) from None
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(root, f"no images in class folders ({', '.join(CLASSES)})")
    return make_set(paths, labels, f"folder/{root.name}")


# -- Aff-Wild2 frames as images ----------------------------------------------------------------


def read_affwild2_images(root: str | Path, split: str = "train", every: int = 10) -> ImageSet:
    """Aff-Wild2 layout (design §3.1) used as a static set: every ``every``-th frame that has both a
    valid label (not −1) and a crop. ``train`` reads ``Train_Set``, ``val``/``test``
    ``Validation_Set``.
    """
    from vnaw.data import affwild2

    if every < 1:
        raise ConfigError(f"every must be ≥ 1, got {every}")
    af_split = "Train_Set" if split == "train" else "Validation_Set"
    records = affwild2.index_dataset(Path(root), splits=[af_split])
    paths, labels = [], []
    for rec in records:
        keep = np.flatnonzero((rec.labels >= 0) & rec.has_crop)[::every]
        paths += [rec.crop_path(int(k)) for k in keep]
        labels += rec.labels[keep].tolist()
    return make_set(paths, labels, f"affwild2/{af_split}")


# -- specs -------------------------------------------------------------------------------------


READERS: dict[str, Callable[..., ImageSet]] = {
    "ferplus": read_ferplus,
    "rafdb": read_rafdb,
    "affectnet": read_affectnet,
    "folder": read_folder,
    "affwild2": read_affwild2_images,
    "muxspace": read_muxspace,
}


# How each reader's images frame a face (vnaw.faces.align.TEMPLATES). FERPlus's and muxspace's are
# measured (benchmarks/framing.py); the others are ArcFace-aligned crops or of unknown framing.
READER_FRAMING = {"ferplus": "ferplus", "muxspace": "ferplus"}


def framing_of(specs: Sequence[str]) -> str:
    """The framing an encoder trained on ``specs`` learned: their readers' one when they all
    agree, else ``"arcface"``."""
    kinds = {READER_FRAMING.get(parse_spec(s)[0], "arcface") for s in specs}
    return kinds.pop() if len(kinds) == 1 else "arcface"


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    """``reader[@split]:ROOT`` → ``(reader, split or None, ROOT)``."""
    head, sep, root = spec.partition(":")
    reader, _, split = head.partition("@")
    if not sep or not root or reader not in READERS:
        raise ConfigError(
            f"data spec {spec!r} must be 'reader:PATH' or 'reader@split:PATH' with reader one of "
            f"{sorted(READERS)}"
        )
    if split and split not in SPLITS:
        raise ConfigError(f"data spec {spec!r}: split must be one of {SPLITS}")
    return reader, split or None, root


def read_spec(spec: str, split: str = "train", *, every: int = 10) -> ImageSet:
    """Read one data spec; ``split`` applies unless the spec names its own. ``every``: the frame
    step of the ``affwild2`` reader (videos used as images)."""
    reader, own_split, root = parse_spec(spec)
    if reader == "affwild2":
        return read_affwild2_images(root, own_split or split, every)
    return READERS[reader](root, own_split or split)


def read_specs(specs: Sequence[str], split: str = "train", *, every: int = 10) -> ImageSet:
    """Read and combine several specs into one set in the design §2 label space."""
    return concat([read_spec(s, split, every=every) for s in specs])


def has_split(spec: str, split: str) -> bool:
    """Whether a spec's reader has a distinct ``split`` (used to derive validation sets)."""
    reader, own_split, root = parse_spec(spec)
    if own_split is not None:
        return False
    if reader == "ferplus":
        return True
    if reader == "muxspace":  # its held-out part is never derived: benchmarks name it themselves
        return split == "val"
    if reader == "affectnet":
        return not root.lower().endswith(".csv") and split != "train"
    if reader == "folder":
        return (Path(root) / split).is_dir()
    return reader in ("rafdb", "affwild2") and split == "test"
