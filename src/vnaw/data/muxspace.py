"""muxspace ``facial_expressions``: a real, in-the-wild face set with a fixed person-disjoint split.

Layout (``ROOT`` is what the user passes, e.g. ``muxspace:../shared/data/muxspace``)::

    ROOT/labels.csv     image,emotion   (emotion: anger, contempt, disgust, fear, happiness,
                                         neutral, sadness, surprise; contempt → Other)
    ROOT/images/*.jpg   mostly 350×350, grey or RGB, face roughly centred

The split is part of the code so that it never changes: files named ``Person_Name_0001.jpg`` are
grouped by person, and whole persons are assigned (largest first, ties in a seeded order) to the
part that brings every class's share closest to its target. Its parts:

* ``test`` — the **held-out** part (≈ 30 % of the images): for benchmarks only, never trained on
  and never used to choose anything;
* ``val`` — ≈ 15 % carved from the rest the same way: for checkpoint and recipe choice;
* ``train`` — the remaining ≈ 55 %.

No person is in two parts. A few persons hold most of a rare class (two people hold 154 of the 208
disgust faces), so the per-class shares can only be approximate.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from vnaw.data.imageset import ImageSet, make_set
from vnaw.labels import NUM_CLASSES, class_index

SPLIT_SEED = 13  # fixed: changing it changes the held-out part (and every published number)
TEST_FRACTION = 0.30  # of all images, held out
VAL_FRACTION = 0.15  # of all images, carved from the non-held-out part

_PERSON = re.compile(r"^(.*)_\d+\.[A-Za-z]+$")


def muxspace_class(name: str) -> int:
    """muxspace emotion name → design §2 index (contempt → Other)."""
    name = name.strip().lower()
    return class_index("Other" if name == "contempt" else name)


def person_of(file_name: str) -> str:
    """``George_W_Bush_0012.jpg`` → ``George_W_Bush``; names without a number are their own group."""
    m = _PERSON.match(file_name)
    return m.group(1) if m else file_name


def read_labels(root: str | Path) -> tuple[list[str], np.ndarray]:
    """``(image names, design §2 labels)`` in ``labels.csv`` order."""
    from vnaw.errors import DataError

    path = Path(root) / "labels.csv"
    if not path.is_file():
        raise DataError(path, "muxspace labels.csv not found")
    names, labels = [], []
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["image", "emotion"]:
            raise DataError(path, "header must be 'image,emotion'", 1)
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 2:
                raise DataError(path, f"expected 2 fields, got {len(row)}", line_no)
            try:
                labels.append(muxspace_class(row[1]))
            except KeyError as e:
                raise DataError(path, e.args[0], line_no) from None
            names.append(row[0].strip())
    return names, np.asarray(labels, dtype=np.int64)


def stratified_group_split(
    groups: list[str], labels: np.ndarray, fraction: float, seed: int
) -> np.ndarray:
    """Boolean mask of the items whose group goes to a part of ≈ ``fraction`` of each class.

    Greedy: groups in order of decreasing size (ties in a seeded random order) join the part when
    that lowers ``Σ_c ((part_c − fraction·total_c) / total_c)²`` — every class weighs the same,
    so rare classes get their share as far as their groups allow.
    """
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    index = {g: i for i, g in enumerate(names)}
    gid = np.array([index[g] for g in groups], dtype=np.int64)
    counts = np.zeros((len(names), NUM_CLASSES), dtype=np.float64)
    np.add.at(counts, (gid, labels), 1.0)
    total = counts.sum(0)
    scale = np.where(total > 0, total, 1.0)
    target = fraction * total
    order = np.lexsort((rng.permutation(len(names)), -counts.sum(1)))
    held = np.zeros(NUM_CLASSES)
    chosen = np.zeros(len(names), dtype=bool)
    for g in order:
        now = (((held - target) / scale) ** 2).sum()
        after = (((held + counts[g] - target) / scale) ** 2).sum()
        if after < now:
            held += counts[g]
            chosen[g] = True
    return chosen[gid]


def split_parts(names: list[str], labels: np.ndarray) -> dict[str, np.ndarray]:
    """The fixed ``train``/``val``/``test`` index arrays of the items (see the module docstring)."""
    groups = [person_of(n) for n in names]
    test = stratified_group_split(groups, labels, TEST_FRACTION, SPLIT_SEED)
    rest = np.flatnonzero(~test)
    val_in_rest = stratified_group_split(
        [groups[i] for i in rest],
        labels[rest],
        VAL_FRACTION / (1.0 - TEST_FRACTION),
        SPLIT_SEED + 1,
    )
    val = np.zeros(len(names), dtype=bool)
    val[rest[val_in_rest]] = True
    train = ~test & ~val
    return {
        "train": np.flatnonzero(train),
        "val": np.flatnonzero(val),
        "test": np.flatnonzero(test),
    }


def read_muxspace(root: str | Path, split: str = "train", *, check_images: bool = True) -> ImageSet:
    """The ``split`` part (``train``, ``val`` or ``test`` = held out) as an :class:`ImageSet`."""
    from vnaw.errors import DataError

    parts = ("train", "val", "test")
    if split not in parts:
        raise ValueError(f"muxspace split must be one of {parts}, got {split!r}")
    root = Path(root)
    names, labels = read_labels(root)
    keep = split_parts(names, labels)[split]
    paths = [root / "images" / names[i] for i in keep]
    if check_images:
        for p in paths:
            if not p.is_file():
                raise DataError(p, "muxspace image not found")
    return make_set(paths, labels[keep].tolist(), f"muxspace/{split}")
