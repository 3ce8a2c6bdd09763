"""`vnaw predict` beyond one process: `--shard K/N` jobs add up to one run, `--merge` builds the
same batch files, a rerun skips finished videos, and `--ray` (a local instance, one worker killed
midway) gives what a plain run gives."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vnaw.cli import main
from vnaw.inference.jobs import DONE_DIR, all_records
from vnaw.inference.submission import SUBMISSION_HEADER
from vnaw.labels import CLASSES
from vnaw.shards import shard_of

pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")

OPTS = ["--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Five videos: nested folders, one name twice (cam1/b, cam2/b), one stem with two extensions
    (x.mp4, x.avi: their keys keep the extension), two faces, no face."""
    from helpers.face_video import write_video

    d = tmp_path_factory.mktemp("videos")
    for sub in ("cam1", "cam2"):
        (d / sub).mkdir()
    write_video(d / "cam1" / "b.mp4", 8, faces=2)
    write_video(d / "cam2" / "b.mp4", 9)
    write_video(d / "x.mp4", 7)
    shutil.copy(d / "x.mp4", d / "x.avi")
    write_video(d / "empty.mp4", 6, faces=0)
    return d


@pytest.fixture(scope="module")
def test_list(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("list") / "test.txt"
    lines = [f"b/{k:05d}.jpg" for k in (1, 5, 9)] + [f"x/{k:05d}.jpg" for k in (2, 7)]
    path.write_text(SUBMISSION_HEADER + "\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def full(folder, tmp_path_factory) -> Path:
    """One plain run over the whole folder: the reference."""
    out = tmp_path_factory.mktemp("full") / "out"
    assert main(["predict", str(folder), "--out", str(out), "--report", *OPTS]) == 0
    return out


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {
        p.relative_to(out).as_posix(): pd.read_csv(p)
        for p in sorted(out.rglob("*.csv"))
        if p.name != "summary.csv"
    }


def _assert_same_tables(out: Path, ref: Path) -> None:
    got, want = _tables(out), _tables(ref)
    assert sorted(got) == sorted(want)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=True, obj=name)
    pngs = {p.relative_to(out) for p in out.rglob("*.png")}
    assert pngs == {p.relative_to(ref) for p in ref.rglob("*.png")}


def _recorded(out: Path) -> set[str]:
    return {r["source"] for r in all_records(out)} if (out / DONE_DIR).is_dir() else set()


@pytest.mark.slow  # a dozen videos or more, 1-2 s each
def test_summary_is_that_of_the_tables(full):
    """The reference itself, checked from its tables: one row per video and track."""
    summary = pd.read_csv(full / "summary.csv")
    tables = _tables(full)
    assert sorted(tables) == sorted(
        ["cam1/b.csv", "cam2/b.csv", "x.mp4.csv", "x.avi.csv", "empty.csv"]
    )
    # Rows in folder order (sorted paths), as a one-process run always wrote them.
    assert summary["video"].drop_duplicates().tolist() == [
        "cam1/b", "cam2/b", "empty", "x.avi", "x.mp4"
    ]  # fmt: skip
    for name, df in tables.items():
        for track, g in df.groupby("track", dropna=False):
            video = name.removesuffix(".csv")
            row = summary[(summary["video"] == video) & (summary["track"].fillna(-1) == track)]
            if track != track:  # no face: the one row with an empty track
                row = summary[summary["video"] == video]
            assert len(row) == 1, (video, track)
            row = row.iloc[0]
            face = g["face_found"] == 1
            assert row["frames"] == len(g) and row["face_frames"] == face.sum()
            for c in CLASSES:
                want = g.loc[face, c].mean() if face.any() else np.nan
                np.testing.assert_allclose(row[f"mean_{c}"], want, atol=2e-6)


@pytest.mark.slow  # a dozen videos or more, 1-2 s each
def test_union_of_shards_equals_one_run(folder, full, test_list, tmp_path, capsys):
    out = tmp_path / "sharded"
    before: set[str] = set()
    for k in (1, 2, 3):
        argv = ["predict", str(folder), "--out", str(out), "--shard", f"{k}/3", "--report"]
        assert main([*argv, *OPTS]) == 0
        err = capsys.readouterr().err
        assert f"shard {k}/3:" in err and "--merge" in err
        now = _recorded(out)
        # Shard k wrote exactly the videos whose relative path hashes to k, none of the others'.
        assert now - before == {s for s in _sources(folder) if shard_of(s, 3) == k}
        before = now
        assert not (out / "summary.csv").exists()  # the batch files are the merge's
    assert before == set(_sources(folder))
    _assert_same_tables(out, full)

    argv = ["predict", "--merge", str(out), "--abaw-test-list", str(test_list)]
    assert main(argv) == 0
    assert "merged 5 video(s)" in capsys.readouterr().err
    assert (out / "summary.csv").read_text() == (full / "summary.csv").read_text()
    assert (out / "index.html").read_text() == (full / "index.html").read_text()
    # The submission from the records equals one read off the full run's tables.
    b, x = pd.read_csv(full / "cam2/b.csv"), pd.read_csv(full / "x.mp4.csv")
    want = [f"b/{k:05d}.jpg,{b['pred_index'][k - 1]}" for k in (1, 5, 9)]
    want += [f"x/{k:05d}.jpg,{x['pred_index'][k - 1]}" for k in (2, 7)]
    assert (out / "submission.txt").read_text().splitlines()[1:] == want


def _sources(folder: Path) -> list[str]:
    from vnaw.faces.video import find_videos

    return [v.relative_to(folder).as_posix() for v in find_videos(folder)]


@pytest.mark.slow  # a dozen videos or more, 1-2 s each
def test_rerun_finishes_a_partial_folder(folder, full, tmp_path, capsys):
    out = tmp_path / "partial"
    argv = ["predict", str(folder), "--out", str(out), "--report", *OPTS]
    assert main([*argv, "--shard", "1/2"]) == 0
    first = _recorded(out)
    assert 0 < len(first) < 5
    capsys.readouterr()
    # A merge that is told the folder refuses while videos are missing, naming them.
    assert main(["predict", str(folder), "--merge", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    missing = sorted(set(_sources(folder)) - first)
    assert len(err.splitlines()) == 1 and f"{len(missing)} video(s)" in err and missing[0] in err
    assert not (out / "summary.csv").exists()
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.csv")}
    # The plain rerun over the same --out skips the finished videos and does the rest.
    assert main(argv) == 0
    assert f"({len(first)} already done)" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # not rewritten
    assert (out / "summary.csv").read_text() == (full / "summary.csv").read_text()
    assert (out / "index.html").read_text() == (full / "index.html").read_text()
    _assert_same_tables(out, full)


def test_shard_with_submission_is_refused(folder, test_list, tmp_path, capsys):
    argv = ["predict", str(folder), "--out", str(tmp_path / "o"), "--shard", "1/2"]
    assert main([*argv, "--abaw-test-list", str(test_list)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--merge" in err
    assert not (tmp_path / "o").exists()


def test_ray_missing_is_one_line(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert main(["predict", str(folder), "--out", str(tmp_path / "o"), "--ray", *OPTS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "vnaw[ray]"' in err
    assert not (tmp_path / "o").exists()
    assert main(["faces", str(folder), "--out", str(tmp_path / "f"), "--ray", "--quiet"]) == 2
    assert 'pip install "vnaw[ray]"' in capsys.readouterr().err


def need_ray() -> None:
    """Skip unless Ray can start here (it is installed, and so is a pyarrow that loads, if any)."""
    pytest.importorskip("ray")
    try:
        import pyarrow  # noqa: F401
    except ModuleNotFoundError:
        pass
    except ImportError as err:
        pytest.skip(f"Ray cannot start beside this pyarrow: {err}")


@pytest.mark.slow
def test_ray_with_a_killed_worker_equals_plain_run(folder, full, tmp_path, monkeypatch, capsys):
    need_ray()
    flag = tmp_path / "killed"
    # The task of cam1/b kills its worker process once, after writing its outputs and before its
    # record, as a lost node would; Ray runs it again.
    monkeypatch.setenv("VNAW_TEST_CRASH_ONCE", f"cam1/b:{flag}")
    out = tmp_path / "ray"
    argv = ["predict", str(folder), "--out", str(out), "--report", "--ray", "--workers", "2"]
    assert main([*argv, "--ray-cpus", "1", *OPTS]) == 0
    assert flag.is_file()  # the worker was killed …
    _assert_same_tables(out, full)  # … and nothing was lost or doubled
    assert (out / "summary.csv").read_text() == (full / "summary.csv").read_text()
    assert (out / "index.html").read_text() == (full / "index.html").read_text()
    assert not list(out.rglob(".*tmp-*"))  # no temporary file left behind


def test_merge_refusals_are_one_line(tmp_path, capsys):
    nope = tmp_path / "nope"
    assert main(["predict", "--merge", str(nope)]) == 2
    assert "no such output folder" in capsys.readouterr().err and not nope.exists()
    nope.mkdir()
    assert main(["predict", "--merge", str(nope)]) == 2
    assert "no finished video to merge" in capsys.readouterr().err
    assert main(["predict"]) == 2  # neither videos nor --merge
    assert "VIDEO_OR_DIR" in capsys.readouterr().err
