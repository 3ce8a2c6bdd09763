"""The indexed image set every static reader returns — design §3.2.

Kept apart from the readers so that a reader in its own module (``muxspace.py``) and the registry
of readers (``static.py``) both build on it without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vnaw.errors import ConfigError
from vnaw.labels import NUM_CLASSES


@dataclass
class ImageSet:
    """An indexed image set: ``paths[i]`` has label ``labels[i]`` (design §2 index).

    ``votes`` holds per-image class vote counts ``(N, 8)`` where the set has them (FERPlus), NaN
    rows elsewhere; ``source`` names where each image came from (for reports).
    """

    paths: list[Path]
    labels: np.ndarray  # (N,) int64 in 0..7
    votes: np.ndarray  # (N, 8) float32, NaN where unknown
    source: list[str]

    def __len__(self) -> int:
        return len(self.paths)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=NUM_CLASSES)


def make_set(
    paths: list[Path], labels: list[int], name: str, votes: list[list[float]] | None = None
) -> ImageSet:
    """An :class:`ImageSet` of ``paths`` with ``labels``, all from source ``name``; ``votes`` are
    per-image vote counts where the set has them (NaN rows otherwise)."""
    n = len(paths)
    vote_arr = (
        np.asarray(votes, dtype=np.float32).reshape(n, NUM_CLASSES)
        if votes is not None
        else np.full((n, NUM_CLASSES), np.nan, dtype=np.float32)
    )
    return ImageSet(paths, np.asarray(labels, dtype=np.int64).reshape(n), vote_arr, [name] * n)


def concat(sets: Sequence[ImageSet]) -> ImageSet:
    """One set from many (design §3.2: any subset of the readers combines into one training set)."""
    if not sets:
        raise ConfigError("no image sets to combine")
    return ImageSet(
        [p for s in sets for p in s.paths],
        np.concatenate([s.labels for s in sets]),
        np.concatenate([s.votes for s in sets]),
        [x for s in sets for x in s.source],
    )
