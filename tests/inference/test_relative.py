"""--baseline auto|none|PATH glue (vnaw.inference.relative) on hand-made tracks, no video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vnaw.errors import ConfigError
from vnaw.inference.baseline import BaselineConfig, baseline_from, log_probs
from vnaw.inference.predict import TrackResult, VideoResult
from vnaw.inference.relative import (
    apply_baselines,
    apply_track,
    calibration_files,
    parse_baseline,
    read_mapping,
)
from vnaw.inference.table import RELATIVE_COLUMNS, TABLE_COLUMNS, track_table

REST = np.array([0.3, 0.5, 0.05, 0.03, 0.02, 0.05, 0.03, 0.02])  # looks stern at rest
SMILE = np.array([0.2, 0.3, 0.02, 0.02, 0.4, 0.03, 0.02, 0.01])


def _track(n_face: int, n_gap: int = 2) -> TrackResult:
    probs = np.array([REST] * (n_face - 4) + [SMILE] * 4 + [REST] * n_gap)
    face = np.r_[np.ones(n_face, bool), np.zeros(n_gap, bool)]
    return TrackResult("v", probs, face, np.zeros((len(face), 4)))


def test_auto_reads_a_stern_resting_face_as_neutral_and_a_smile_as_happiness():
    tr = _track(20)
    cfg = BaselineConfig(min_neutral=0.25)
    apply_track(tr, None, cfg)
    # round(0.2 · 20) = 4 baseline frames, all at rest (the first four: ties keep the earlier)
    np.testing.assert_array_equal(np.flatnonzero(tr.baseline_frame), [0, 1, 2, 3])
    assert tr.baseline_count == 4 and tr.baseline_source == "auto" and tr.baseline_reason == ""
    assert tr.baseline_ok[:20].all() and not tr.baseline_ok[20:].any()  # no face: not ok
    assert (tr.rel_probs[:16].argmax(1) == 0).all()  # raw: Anger; relative: Neutral
    assert (tr.rel_probs[16:20].argmax(1) == 4).all()  # log(0.4 / 0.02) = 3.0 > 1.5
    np.testing.assert_array_equal(tr.rel_probs[20:], tr.probs[20:])


def test_short_track_falls_back_to_raw_and_table_says_so():
    tr = _track(10)  # round(0.2 · 10) = 2 < 3 baseline frames
    apply_track(tr)
    assert tr.baseline_reason == "too_few" and not tr.baseline_ok.any()
    np.testing.assert_array_equal(tr.rel_probs, tr.probs)
    df = track_table("v", np.arange(12) / 30, tr)
    assert list(df.columns) == TABLE_COLUMNS + RELATIVE_COLUMNS
    assert df["baseline_ok"].tolist()[:10] == [0] * 10 and df["baseline_ok"].isna()[10:].all()
    assert (df["rel_pred"][:10] == df["pred"][:10]).all()  # the raw class where not ok
    assert df["baseline_frames"].eq(2).all() and df["baseline"].eq("auto").all()


def test_calibration_baselines_by_face_order_and_by_track():
    cal = baseline_from(log_probs(np.array([REST] * 5)), BaselineConfig(min_neutral=0.25))
    other = baseline_from(log_probs(np.array([SMILE] * 5)), BaselineConfig(min_neutral=0.0))
    t1, t2 = _track(20), _track(20)
    t2.track = 2
    res = VideoResult("v", np.arange(22) / 30, [t1, t2])
    apply_baselines(res, [cal])  # one calibration face serves every track
    assert t1.baseline_source == t2.baseline_source == "calibration"
    assert t1.baseline_count == 5 and not t1.baseline_frame.any()
    apply_baselines(res, {2: other})  # a mapping: track 2 calibrated, track 1 on its own
    assert t1.baseline_source == "auto" and t2.baseline_source == "calibration"
    assert (t2.rel_probs[16:20].argmax(1) == 0).all()  # a smiling "baseline": smiles are neutral


def test_parse_and_files(tmp_path):
    assert parse_baseline(None) is None and parse_baseline("none") is None
    assert parse_baseline("AUTO") == "auto" and parse_baseline("x.mp4") == Path("x.mp4")
    with pytest.raises(ConfigError, match="not found"):
        calibration_files(tmp_path / "missing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no image or video"):
        calibration_files(tmp_path / "empty")
    (tmp_path / "empty" / "a.png").write_bytes(b"")
    (tmp_path / "empty" / "notes.txt").write_text("")
    assert calibration_files(tmp_path / "empty") == [tmp_path / "empty" / "a.png"]
    m = tmp_path / "map.csv"
    m.write_text("track,path\n1,anna.mp4\n2,/abs/ben.mp4\n")
    assert read_mapping(m) == {1: tmp_path / "anna.mp4", 2: Path("/abs/ben.mp4")}
    m.write_text("one,anna.mp4\n")
    with pytest.raises(ConfigError, match="line 1"):
        read_mapping(m)


def test_cli_bad_baseline_path_is_one_line_and_exit_2(tmp_path, capsys):
    from vnaw.cli import main

    video = tmp_path / "v.mp4"
    video.write_bytes(b"not read: the baseline is checked first")
    out = tmp_path / "out"
    rc = main(["predict", str(video), "--out", str(out), "--baseline", str(tmp_path / "no.mp4")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no.mp4" in err[0] and "--baseline" in err[0]
    assert not out.exists()  # refused before any output
