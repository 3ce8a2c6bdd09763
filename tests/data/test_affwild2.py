"""Aff-Wild2 EXPR reader (design §3.1), training clips and evaluation windows (design §8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from vnaw.data.affwild2 import (
    DataError,
    index_dataset,
    nearest_crop_index,
    parse_annotation,
    source_video,
    write_annotation,
)
from vnaw.data.clips import clip_at, eval_windows, sample_clip, window_coverage
from vnaw.labels import AFFWILD2_HEADER


def make_video(root: Path, split: str, name: str, labels: list[int], crops: list[int]) -> Path:
    """Annotation + empty crop files for 1-based frame numbers ``crops``."""
    ann = root / split / f"{name}.txt"
    write_annotation(ann, labels)
    d = root / "cropped_aligned" / name
    d.mkdir(parents=True, exist_ok=True)
    for k in crops:
        (d / f"{k:05d}.jpg").touch()
    return ann


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_video(tmp_path, "Train_Set", "vid1", [0, 4, 4, -1, 7, 3], [1, 2, 3, 4, 5, 6])
    make_video(tmp_path, "Train_Set", "vid2_left", [1, 1, 2, 2], [1, 4])
    make_video(tmp_path, "Train_Set", "vid2_right", [5, 6, 6], [2, 3])
    make_video(tmp_path, "Validation_Set", "val1", [0, 0, 0, 6, 6], [1, 2, 3, 4, 5])
    (tmp_path / "batch1").mkdir()
    (tmp_path / "batch1" / "vid2.mp4").touch()
    return tmp_path


def test_index_good_root(root: Path) -> None:
    recs = index_dataset(root)
    assert [(r.split, r.name) for r in recs] == [
        ("Train_Set", "vid1"),
        ("Train_Set", "vid2_left"),
        ("Train_Set", "vid2_right"),
        ("Validation_Set", "val1"),
    ]
    by = {r.name: r for r in recs}
    assert by["vid1"].labels.tolist() == [0, 4, 4, -1, 7, 3]
    assert by["vid2_left"].has_crop.tolist() == [True, False, False, True]
    assert by["vid2_right"].has_crop.tolist() == [False, True, True]
    assert by["vid2_left"].source == "vid2" and by["vid2_right"].video == root / "batch1/vid2.mp4"
    assert by["vid1"].video is None
    assert by["vid2_left"].crop_path(3) == root / "cropped_aligned/vid2_left/00004.jpg"


def test_parse_tolerates_trailing_blank_lines_and_crlf(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_bytes(f"{AFFWILD2_HEADER}\r\n3\r\n-1\r\n7\r\n\r\n".encode())
    assert parse_annotation(p).tolist() == [3, -1, 7]


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        ("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise\n0\n", 1, "wrong header"),
        (f"{AFFWILD2_HEADER}\n0\n8\n", 3, "label 8 outside -1..7"),
        (f"{AFFWILD2_HEADER}\n0\n1\n-2\n", 4, "label -2 outside"),
        (f"{AFFWILD2_HEADER}\n0\n1.5\n", 3, "not an integer"),
        (f"{AFFWILD2_HEADER}\n0\n\n1\n", 3, "not an integer"),
        (f"{AFFWILD2_HEADER}\nhappy\n", 2, "not an integer"),
        ("", 1, "empty file"),
    ],
)
def test_parse_bad_file_names_file_and_line(
    tmp_path: Path, body: str, line: int, needle: str
) -> None:
    p = tmp_path / "bad.txt"
    p.write_text(body)
    with pytest.raises(DataError) as ei:
        parse_annotation(p)
    assert str(ei.value).startswith(f"{p}:{line}: ")
    assert needle in str(ei.value)
    assert ei.value.line == line and ei.value.path == p


def test_missing_crop_folder_is_named(root: Path) -> None:
    ann = make_video(root, "Validation_Set", "val2", [0, 0], [])
    (root / "cropped_aligned" / "val2").rmdir()
    with pytest.raises(DataError) as ei:
        index_dataset(root)
    assert str(ei.value) == f"{ann}: crop folder {root / 'cropped_aligned' / 'val2'} is missing"


def test_crop_beyond_annotation_is_named(root: Path) -> None:
    ann = make_video(root, "Train_Set", "vid3", [0, 1, 2], [1, 2, 3, 5])
    with pytest.raises(DataError) as ei:
        index_dataset(root)
    assert str(ei.value).startswith(f"{ann}:4: crop ")
    assert "00005.jpg is frame 5" in str(ei.value)


def test_skip_bad_warns_and_keeps_the_rest(root: Path) -> None:
    (root / "Train_Set" / "broken.txt").write_text(f"{AFFWILD2_HEADER}\n0\n9\n")
    (root / "cropped_aligned" / "broken").mkdir()
    with pytest.warns(UserWarning, match=r"broken\.txt:3: label 9"):
        recs = index_dataset(root, skip_bad=True)
    assert sorted(r.name for r in recs) == ["val1", "vid1", "vid2_left", "vid2_right"]


def test_nested_annotation_folders_found(tmp_path: Path) -> None:
    # Organisers' layout: annotations nested a few levels down; crops at the root.
    write_annotation(tmp_path / "annotations/EXPR/Train_Set/a.txt", [0, 1])
    (tmp_path / "cropped_aligned/a").mkdir(parents=True)
    (tmp_path / "cropped_aligned/a/00001.jpg").touch()
    recs = index_dataset(tmp_path)
    assert [r.name for r in recs] == ["a"] and recs[0].has_crop.tolist() == [True, False]
    # A second nested Train_Set makes the root ambiguous: an error, not a guess.
    write_annotation(tmp_path / "other/Train_Set/b.txt", [0])
    with pytest.raises(DataError, match="several EXPR annotation folders"):
        index_dataset(tmp_path)


def test_source_video() -> None:
    assert source_video("10-60-1280x720_left") == "10-60-1280x720"
    assert source_video("video5_right") == "video5"
    assert source_video("leftover_video") == "leftover_video"


def test_nearest_crop_index_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        has = rng.random(n) < 0.4
        has[rng.integers(n)] = True
        got = nearest_crop_index(has)
        crops = np.flatnonzero(has)
        # Brute force: smallest distance, earlier frame on ties.
        want = [min(crops, key=lambda c, k=k: (abs(c - k), c)) for k in range(n)]
        assert got.tolist() == [int(w) for w in want]
    with pytest.raises(ValueError):
        nearest_crop_index(np.zeros(3, dtype=bool))


def test_clip_nearest_crop_fallback_and_drop(root: Path) -> None:
    rec = {r.name: r for r in index_dataset(root)}["vid2_left"]  # crops at frames 1 and 4
    clip = clip_at(rec, 0, 6)
    assert clip.frames.tolist() == [0, 1, 2, 3, -1, -1]
    assert clip.labels.tolist() == [1, 1, 2, 2, -1, -1]  # own labels kept, padding −1
    assert clip.source.tolist() == [0, 0, 3, 3, -1, -1]  # frame 2 → 1 (tie → earlier), 3 → 4
    assert clip.present.tolist() == [True] * 4 + [False] * 2
    paths = clip.paths(rec)
    assert paths[1] == rec.crop_dir / "00001.jpg" and paths[2] == rec.crop_dir / "00004.jpg"
    assert paths[4] is None
    dropped = clip_at(rec, 0, 4, drop_missing=True)
    assert dropped.present.tolist() == [True, False, False, True]
    assert dropped.labels.tolist() == [1, -1, -1, 2]


def test_sample_clip_random_start_reproducible(root: Path) -> None:
    rec = {r.name: r for r in index_dataset(root)}["vid1"]
    starts = [sample_clip(rec, 3, torch.Generator().manual_seed(s)).start for s in range(40)]
    again = [sample_clip(rec, 3, torch.Generator().manual_seed(s)).start for s in range(40)]
    assert starts == again
    assert set(starts) == {0, 1, 2, 3}  # every start in 0..N−P reached, nothing beyond
    c = sample_clip(rec, 3, torch.Generator().manual_seed(1))
    assert c.labels.tolist() == rec.labels[c.start : c.start + 3].tolist()


@pytest.mark.parametrize(
    ("n", "p", "stride", "want"),
    [
        (10, 4, 2, [(0, 4), (2, 6), (4, 8), (6, 10)]),
        (11, 4, 2, [(0, 4), (2, 6), (4, 8), (6, 10), (7, 11)]),
        (11, 4, None, [(0, 4), (2, 6), (4, 8), (6, 10), (7, 11)]),
        (9, 4, 4, [(0, 4), (4, 8), (5, 9)]),
        (3, 4, 2, [(0, 3)]),
        (4, 4, 1, [(0, 4)]),
        (7, 5, 3, [(0, 5), (2, 7)]),
    ],
)
def test_eval_windows_exact(n: int, p: int, stride: int | None, want: list) -> None:
    assert eval_windows(n, p, stride) == want


def test_eval_windows_cover_every_frame() -> None:
    for n in range(1, 60):
        for p in (1, 2, 5, 16):
            for s in sorted({1, max(p // 2, 1), p}):
                w = eval_windows(n, p, s)
                cover = np.zeros(n, dtype=int)
                for a, b in w:
                    assert 0 <= a < b <= n and b - a == min(p, n)
                    cover[a:b] += 1
                assert (cover >= 1).all()
                assert (window_coverage(n, w) == cover).all()
                # Interior frames of full-stride windows are covered ceil(P/s) times at most.
                assert cover.max() <= -(-p // s) + 1
    with pytest.raises(ValueError):
        eval_windows(10, 4, 5)  # a stride longer than P would leave gaps
