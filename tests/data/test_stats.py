"""``vnaw data stats`` through the CLI entry point, checked against counts taken from the files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from vnaw.cli import main
from vnaw.data.synth import SynthConfig, generate

CLASSES = ["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"]
SPLITS = ("Train_Set", "Validation_Set")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny generated root with a few crops removed, so that crops < frames."""
    root = tmp_path_factory.mktemp("stats") / "data"
    generate(root, SynthConfig(seed=1, videos=6, frames=30, size=16))
    for folder in sorted((root / "cropped_aligned").iterdir())[:3]:
        for jpg in sorted(folder.glob("*.jpg"))[2:5]:
            jpg.unlink()
    return root


def _expected(root: Path, skip: set[str] = frozenset()) -> dict[str, list[int]]:
    """Per split (and "all"): [videos, frames, valid, crops, count of class 0..7], by hand."""
    want: dict[str, list[int]] = {}
    for split in SPLITS:
        videos = frames = valid = crops = 0
        counts = [0] * 8
        for ann in sorted((root / split).glob("*.txt")):
            if ann.stem in skip:
                continue
            lines = ann.read_text().splitlines()
            assert lines[0] == ",".join(CLASSES)
            labels = [int(s) for s in lines[1:] if s.strip()]
            videos += 1
            frames += len(labels)
            valid += sum(v != -1 for v in labels)
            for v in labels:
                if v != -1:
                    counts[v] += 1
            names = [p.name for p in (root / "cropped_aligned" / ann.stem).iterdir()]
            crops += sum(re.fullmatch(r"\d{5}\.jpg", n) is not None for n in names)
        if videos:
            want[split] = [videos, frames, valid, crops, *counts]
    want["all"] = [sum(col) for col in zip(*want.values(), strict=True)]
    return want


def _parse(table: str) -> dict[str, tuple[list[int], list[float]]]:
    """Rows of the printed markdown table: split -> (integer cells, class percentages)."""
    lines = [ln for ln in table.strip().splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert head == ["split", "videos", "frames", "valid", "crops", *CLASSES]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        ints = [int(c) for c in cells[1:5]]
        pcts = []
        for c in cells[5:]:
            m = re.fullmatch(r"(\d+) \((\d+\.\d)%\)", c)
            assert m, c
            ints.append(int(m.group(1)))
            pcts.append(float(m.group(2)))
        rows[cells[0]] = (ints, pcts)
    return rows


def _check(rows, want) -> None:
    assert list(rows) == list(want)
    for split, expected in want.items():
        ints, pcts = rows[split]
        assert ints == expected, split
        counts = np.array(expected[4:], dtype=float)
        np.testing.assert_allclose(pcts, 100 * counts / counts.sum(), atol=0.051)


def test_stats_counts_match_the_annotation_files(root: Path, capsys) -> None:
    assert main(["data", "stats", str(root)]) == 0
    rows = _parse(capsys.readouterr().out)
    want = _expected(root)
    assert want["all"][3] < want["all"][1]  # the removed crops are seen
    assert want["Train_Set"][0] > 0 and want["Validation_Set"][0] > 0
    _check(rows, want)


def test_bad_annotation_error_and_skip_bad(root: Path, tmp_path: Path, capsys) -> None:
    bad_root = tmp_path / "data"
    shutil.copytree(root, bad_root)
    bad = sorted((bad_root / "Train_Set").glob("*.txt"))[0]
    lines = bad.read_text().splitlines()
    bad.write_text("\n".join(["Neutral,Anger,Disgust", *lines[1:]]) + "\n")

    assert main(["data", "stats", str(bad_root)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in captured.err
    assert str(bad) in err[0] and "header" in err[0]

    with pytest.warns(UserWarning, match=re.escape(bad.name)):
        assert main(["data", "stats", "--skip-bad", str(bad_root)]) == 0
    rows = _parse(capsys.readouterr().out)
    want = _expected(bad_root, skip={bad.stem})
    assert want["Train_Set"][0] == _expected(root)["Train_Set"][0] - 1
    _check(rows, want)
