"""Train / test splits of Aff-Wild2 — design §3.3 (Table 1 of the paper).

* **Official**: train on ``Train_Set``, evaluate on ``Validation_Set``.
* **k-fold** (paper: 3 folds, 7:3): pool all annotated videos; each fold is an *independent* seeded
  random split of **source videos** (never frames) into ``train_fraction`` / rest, so the
  ``_left`` / ``_right`` tracks of one video always land on the same side. Folds are not a
  partition (the paper's folds are independent 7:3 draws, not k-fold cross-validation).

Splits are written to and read back from JSON so that a run can be repeated exactly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vnaw.data.affwild2 import VideoRecord, source_video
from vnaw.errors import ConfigError, DataError
from vnaw.files import atomic_json

SPLITS_FORMAT = 1


@dataclass(frozen=True)
class Split:
    """One train/test assignment of video (track) names."""

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]


def official_split(records: Iterable[VideoRecord]) -> Split:
    """``Train_Set`` → train, ``Validation_Set`` → test."""
    records = list(records)
    train = tuple(sorted(r.name for r in records if r.split == "Train_Set"))
    test = tuple(sorted(r.name for r in records if r.split == "Validation_Set"))
    return Split("official", train, test)


def group_by_source(names: Iterable[str]) -> dict[str, list[str]]:
    """``{source video: [track names]}``, both sorted, so grouping is order-independent."""
    groups: dict[str, list[str]] = {}
    for n in sorted(set(names)):
        groups.setdefault(source_video(n), []).append(n)
    return dict(sorted(groups.items()))


def kfold_splits(
    names: Iterable[str], folds: int = 3, train_fraction: float = 0.7, seed: int = 0
) -> list[Split]:
    """``folds`` independent seeded random 7:3 splits of source videos (design §3.3).

    ``round(train_fraction · G)`` of the ``G`` source videos go to train (at least one on each side
    when ``G ≥ 2``); every track of a source follows it. The result depends only on the set of
    names, ``seed`` and the fold number (not on the input order).
    """
    if folds < 1:
        raise ConfigError(f"folds must be >= 1, got {folds}")
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    groups = group_by_source(names)
    sources = list(groups)
    g = len(sources)
    if g < 2:
        raise ConfigError(f"need at least 2 source videos to split, got {g}")
    n_train = min(max(round(train_fraction * g), 1), g - 1)
    out = []
    # One child seed per fold: fold f is the same whatever the number of folds requested.
    for f, child in enumerate(np.random.SeedSequence(seed).spawn(folds)):
        order = np.random.default_rng(child).permutation(g)
        train_src = {sources[i] for i in order[:n_train]}
        train = tuple(n for s in sources if s in train_src for n in groups[s])
        test = tuple(n for s in sources if s not in train_src for n in groups[s])
        out.append(Split(f"fold{f + 1}", train, test))
    return out


def hold_out(names: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """``(kept, held_out)``: a seeded ``fraction`` of the source videos of ``names`` (whole
    sources: ``_left``/``_right`` stay together) set aside, at least one on each side."""
    groups = group_by_source(names)
    sources = list(groups)
    if len(sources) < 2:
        raise ConfigError(
            f"need at least 2 training source videos to hold some out, got {len(sources)}"
        )
    n_out = min(max(round(fraction * len(sources)), 1), len(sources) - 1)
    chosen = set(np.random.default_rng(seed).permutation(len(sources))[:n_out].tolist())
    out = [n for i, s in enumerate(sources) if i in chosen for n in groups[s]]
    kept = [n for i, s in enumerate(sources) if i not in chosen for n in groups[s]]
    return kept, out


def save_splits(path: str | os.PathLike[str], splits: Sequence[Split], **meta: object) -> None:
    """Write splits (and e.g. ``seed``, ``train_fraction``) to JSON atomically."""
    payload = {"format": SPLITS_FORMAT, **meta, "splits": [asdict(s) for s in splits]}
    atomic_json(path, payload)


def load_splits(path: str | os.PathLike[str]) -> list[Split]:
    """Read splits written by :func:`save_splits`."""
    try:
        payload = json.loads(Path(path).read_text())
        if payload.get("format") != SPLITS_FORMAT:
            raise DataError(path, f"unknown splits format {payload.get('format')!r}")
        return [Split(s["name"], tuple(s["train"]), tuple(s["test"])) for s in payload["splits"]]
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError, TypeError) as err:
        raise DataError(path, f"not a splits file written by vnaw kfold ({err})") from None
