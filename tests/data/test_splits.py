"""Splits of design §3.3: official, and seeded 7:3 folds of source videos saved to JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vnaw.data.affwild2 import VideoRecord, source_video
from vnaw.data.splits import (
    Split,
    group_by_source,
    kfold_splits,
    load_splits,
    official_split,
    save_splits,
)

# 20 source videos, 4 of them with two subjects (_left/_right) → 24 tracks.
NAMES = [f"vid{i:02d}" for i in range(16)] + [
    f"pair{i}_{side}" for i in range(4) for side in ("left", "right")
]


def test_folds_video_disjoint_and_complete() -> None:
    folds = kfold_splits(NAMES, folds=3, train_fraction=0.7, seed=0)
    assert [f.name for f in folds] == ["fold1", "fold2", "fold3"]
    for f in folds:
        assert set(f.train).isdisjoint(f.test)
        assert sorted(f.train + f.test) == sorted(NAMES)
        # 7:3 of the 20 *source* videos, not of the 24 tracks.
        assert len({source_video(n) for n in f.train}) == 14
        assert len({source_video(n) for n in f.test}) == 6


def test_left_right_stay_together() -> None:
    for seed in range(10):
        for f in kfold_splits(NAMES, folds=3, seed=seed):
            train_src = {source_video(n) for n in f.train}
            test_src = {source_video(n) for n in f.test}
            assert train_src.isdisjoint(test_src)
            for i in range(4):
                side = f.train if f"pair{i}_left" in f.train else f.test
                assert f"pair{i}_right" in side


def test_folds_reproducible_and_distinct() -> None:
    a = kfold_splits(NAMES, seed=7)
    b = kfold_splits(list(reversed(NAMES)), seed=7)  # input order does not matter
    assert a == b
    assert len({f.test for f in a}) == 3  # independent draws differ
    assert kfold_splits(NAMES, seed=8) != a
    # Fold f does not depend on how many folds were asked for.
    assert kfold_splits(NAMES, folds=5, seed=7)[:3] == a


def test_fold_assignment_is_roughly_uniform() -> None:
    # Over many seeds each source video lands in test ≈ 30 % of the time (a fair shuffle).
    counts = {source_video(n): 0 for n in NAMES}
    trials = 300
    for seed in range(trials):
        (f,) = kfold_splits(NAMES, folds=1, seed=seed)
        for s in {source_video(n) for n in f.test}:
            counts[s] += 1
    freq = np.array(list(counts.values())) / trials
    assert np.all(np.abs(freq - 0.3) < 0.1)


def test_group_by_source() -> None:
    g = group_by_source(["b_right", "a", "b_left"])
    assert g == {"a": ["a"], "b": ["b_left", "b_right"]}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        kfold_splits(["only_left", "only_right"])  # one source video cannot be split
    with pytest.raises(ValueError):
        kfold_splits(NAMES, train_fraction=1.0)


def test_json_round_trip(tmp_path: Path) -> None:
    folds = kfold_splits(NAMES, seed=3)
    path = tmp_path / "folds.json"
    save_splits(path, folds, seed=3, train_fraction=0.7)
    assert load_splits(path) == folds
    assert not list(tmp_path.glob(".*tmp*"))  # temp file renamed away


def test_official_split() -> None:
    def rec(name: str, split: str) -> VideoRecord:
        z = np.zeros(1, dtype=np.int64)
        return VideoRecord(name, split, Path(name), Path(name), z, z.astype(bool))

    recs = [rec("b", "Train_Set"), rec("v", "Validation_Set"), rec("a", "Train_Set")]
    assert official_split(recs) == Split("official", ("a", "b"), ("v",))
