"""The per-video records of `vnaw predict` (vnaw.inference.jobs): skip, order, merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from vnaw.errors import VnawError
from vnaw.files import atomic_json
from vnaw.inference.jobs import (
    PredictOptions,
    all_records,
    finished,
    merge,
    record_path,
    summary_frame,
    summary_text,
    write_batch_files,
)

HEAD = "video,track,frames,mean_Neutral\n"


DEFAULT = PredictOptions()


def _record(out: Path, source: str, key: str, rows: str, opts=DEFAULT, head=HEAD):
    rec = {"key": key, "source": source, "options": opts.identity(), "summary": head + rows}
    rec |= {"report": None, "preds": {}, "frames": 0, "no_face": False}
    atomic_json(record_path(out, key), rec)
    return rec


def test_records_come_back_in_folder_order(tmp_path):
    # sorted(Path) order, as `find_videos` lists a folder: by path components.
    sources = ["b/a.mp4", "a.mp4", "a b.mp4", "a/z.mp4", "a-b.mp4"]
    for s in sources:
        _record(tmp_path, s, s.removesuffix(".mp4"), f"{s},1,3,0.5\n")
    want = sorted(sources, key=lambda s: Path("/root", s))
    assert [r["source"] for r in all_records(tmp_path)] == want
    (tmp_path / ".done" / "junk.record").write_text("not json")  # ignored, not a crash
    text = summary_text(all_records(tmp_path))
    assert text == HEAD + "".join(f"{s},1,3,0.5\n" for s in want)


def test_finished_only_for_the_same_video_and_options(tmp_path):
    opts = PredictOptions(report=True, threads=4)
    _record(tmp_path, "cam1/x.mp4", "cam1/x", "cam1/x,1,3,0.5\n", opts)
    assert finished(tmp_path, "cam1/x", "cam1/x.mp4", opts)["key"] == "cam1/x"
    # Threads, device, chunk do not change the outputs: still finished.
    assert finished(tmp_path, "cam1/x", "cam1/x.mp4", PredictOptions(report=True, chunk=8))
    assert finished(tmp_path, "cam1/x", "cam1/x.mp4", PredictOptions()) is None  # no report
    assert finished(tmp_path, "cam1/x", "cam2/x.mp4", opts) is None  # another video, same key
    assert finished(tmp_path, "cam1/y", "cam1/y.mp4", opts) is None  # never done


def test_merge_checks_and_unions_columns(tmp_path):
    with pytest.raises(VnawError, match="no finished video"):
        merge(tmp_path)
    _record(tmp_path, "a.mp4", "a", "a,1,3,0.25\n")
    # A record of a vnaw with one more summary column: the union of the columns, empty where
    # a record has none.
    _record(tmp_path, "b.mp4", "b", "b,,4,0.5,7\n", head=HEAD.strip() + ",extra\n")
    records, missing = merge(tmp_path, {"a.mp4": "a", "b.mp4": "b", "c.mp4": "c"})
    assert [r["key"] for r in records] == ["a", "b"] and missing == ["c.mp4"]
    written = write_batch_files(tmp_path, records)
    assert written == [tmp_path / "summary.csv"]  # no reports: no index
    df = summary_frame((tmp_path / "summary.csv").read_text())
    assert df["video"].tolist() == ["a", "b"] and df["frames"].tolist() == [3, 4]
    assert df["mean_Neutral"].tolist() == [0.25, 0.5]
    assert df["extra"].isna().tolist() == [True, False] and df["track"].isna().tolist() == [
        False,
        True,
    ]


def test_model_stamp_follows_the_weights(tmp_path):
    import os

    from vnaw.inference.jobs import model_stamp

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ckpt = run / "checkpoints" / "best.ckpt"
    ckpt.write_bytes(b"x" * 10)
    os.utime(ckpt, ns=(1_000_000_000, 1_000_000_000))
    assert model_stamp(str(run)) == "10:1000000000" == model_stamp(str(ckpt))
    ckpt.write_bytes(b"y" * 12)  # retrained in place: another stamp, so no video is "finished"
    assert model_stamp(str(run)).startswith("12:")
    assert model_stamp(None) != model_stamp(str(run))  # the shipped weights
    opts = PredictOptions(model=str(run), model_stamp=model_stamp(str(run)))
    assert opts.identity()["model_stamp"] == model_stamp(str(run))
