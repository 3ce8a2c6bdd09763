"""`vnaw predict`: streaming = whole-video inference, per-frame table, ABAW submission (design §8, §3.1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

import torch

from vnaw.evaluation.windows import predict_video
from vnaw.inference.streaming import SmoothStream, WindowStream
from vnaw.inference.submission import SUBMISSION_HEADER, read_test_list, submission_lines
from vnaw.inference.table import RELATIVE_COLUMNS, TABLE_COLUMNS
from vnaw.labels import CLASSES
from vnaw.models.temporal import TemporalConfig, TemporalEncoder


def _tiny_model() -> TemporalEncoder:
    torch.manual_seed(0)
    cfg = TemporalConfig(feature_dim=6, d_model=16, num_layers=1, dim_feedforward=16, dropout=0.0)
    return TemporalEncoder(cfg).eval()


@pytest.mark.parametrize(
    ("n", "chunk", "p", "stride"),
    [(53, 7, 10, 5), (53, 1, 10, 3), (6, 4, 10, None), (40, 64, 10, 10)],
)
def test_streaming_equals_whole_video(n, chunk, p, stride):
    model = _tiny_model()
    rng = np.random.default_rng(n)
    feats = rng.normal(size=(n, 6)).astype(np.float32)
    face = rng.random(n) > 0.3
    face[n // 2] = True
    feats[~face] = 0.0
    stream = WindowStream(model, p, stride, batch_size=3)
    for a in range(0, n, chunk):
        stream.push(feats[a : a + chunk], face[a : a + chunk])
        # Bounded buffer: the last P frames plus the pending windows' strides.
        assert stream.buf.shape[0] <= p + 3 * (stride or p // 2)
    expected = predict_video(model, feats, face, p, stride)
    np.testing.assert_allclose(stream.finish(), expected, atol=1e-5)


def test_smoothing_fills_faceless_frames_from_nearest_face():
    probs = np.eye(8)[[0, 0, 4, 4, 4, 4]].astype(float)
    face = np.array([False, False, True, True, True, False])
    s = SmoothStream(half=1)
    s.push(probs, face)
    out = s.finish()
    np.testing.assert_allclose(out.sum(1), 1.0)
    assert (out.argmax(1) == 4).all()


def test_submission_file_matches_spec(tmp_path):
    listing = tmp_path / "test_list.txt"
    listing.write_text(SUBMISSION_HEADER + "\nv1/00002.jpg\nv2_left/00001.jpg\nv1/00001.jpg\n")
    preds = {"v1": np.array([3, 6]), "v2_left": np.array([7])}
    lines = submission_lines(read_test_list(listing), preds)
    assert lines == [
        "image_location,Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other",
        "v1/00002.jpg,6",
        "v2_left/00001.jpg,7",
        "v1/00001.jpg,3",
    ]
    with pytest.raises(ValueError, match="v9"):
        submission_lines([("v9", 1)], preds)


# -- end to end on a generated video with a real face ---------------------------------------------

pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    from helpers.face_video import write_video

    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", 16)


def test_predict_cli_writes_table_timeline_and_submission(face_video, tmp_path, capsys):
    from vnaw.cli import main

    listing = tmp_path / "list.txt"
    listing.write_text(
        SUBMISSION_HEADER + "\n" + "\n".join(f"clip/{k:05d}.jpg" for k in (3, 1, 16)) + "\n"
    )
    (tmp_path / "bad.mp4").write_bytes(b"")
    out = tmp_path / "out"
    rc = main(
        [
            "predict",
            str(face_video),
            "--out",
            str(out),
            "--abaw-test-list",
            str(listing),
            "--threads",
            "1",
            "--quiet",
        ]
    )
    assert rc == 0
    assert "encoder only, smoothed" in capsys.readouterr().err  # says it is the encoder alone
    table = pd.read_csv(out / "clip.csv")
    assert list(table.columns) == TABLE_COLUMNS + RELATIVE_COLUMNS  # --baseline auto by default
    assert table["frame"].tolist() == list(range(1, 17))
    np.testing.assert_allclose(table[list(CLASSES)].sum(axis=1), 1.0, atol=1e-4)
    assert (table["pred"] == [CLASSES[i] for i in table["pred_index"]]).all()
    assert (out / "clip_timeline.png").is_file()
    sub = (out / "submission.txt").read_text().splitlines()
    assert sub[0] == SUBMISSION_HEADER
    assert sub[1:] == [f"clip/{k:05d}.jpg,{table['pred_index'][k - 1]}" for k in (3, 1, 16)]


@pytest.mark.parametrize("baseline", ["none", "token"])
def test_predict_with_model_streams_like_whole_video(face_video, tmp_path, baseline):
    """Also with a person baseline (design §6): it lives inside the temporal model's windows."""
    from helpers.tiny_run import make_run
    from vnaw.inference.predict import predict_file
    from vnaw.models.artifact import load_video_model

    run = make_run(tmp_path / "run", clip_length=6, stride=2, person_baseline=baseline)
    p, _ = load_video_model(run)
    assert p.temporal.config.person_baseline == baseline
    small = predict_file(face_video, p, chunk=4)
    whole = predict_file(face_video, p, chunk=1000)  # one chunk = the whole video at once
    assert [t.name for t in small.tracks] == ["clip"]
    np.testing.assert_allclose(small.tracks[0].probs, whole.tracks[0].probs, atol=1e-5)
    assert small.tracks[0].probs.shape == (16, 8)


def test_predict_bad_file_does_not_stop_others(face_video, tmp_path, capsys):
    import shutil

    from vnaw.cli import main

    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(face_video, d / "good.mp4")
    (d / "bad.mp4").write_text("not a video")
    rc = main(
        ["predict", str(d), "--out", str(tmp_path / "o"), "--threads", "1", "--quiet", "--overlay"]
    )
    assert rc == 1 and "bad.mp4" in capsys.readouterr().err
    assert (tmp_path / "o" / "good.csv").is_file() and (
        tmp_path / "o" / "good_overlay.mp4"
    ).is_file()


def test_baseline_none_auto_and_path_keep_raw_columns(face_video, tmp_path):
    from vnaw.cli import main

    base = ["--threads", "1", "--quiet"]
    tables = {}
    for mode in ("none", "auto", str(face_video)):
        out = tmp_path / f"o{len(tables)}"
        assert main(["predict", str(face_video), "--out", str(out), "--baseline", mode, *base]) == 0
        tables[mode] = pd.read_csv(out / "clip.csv")
    none, auto, path = tables["none"], tables["auto"], tables[str(face_video)]
    assert list(none.columns) == TABLE_COLUMNS  # today's table
    for t in (auto, path):
        pd.testing.assert_frame_equal(t[TABLE_COLUMNS], none)  # raw columns unchanged
    # auto: 16 face frames → round(0.2 · 16) = 3 baseline frames, marked in the table
    assert auto["baseline_frames"].eq(3).all() and auto["baseline_frame"].sum() == 3
    rel = auto[[f"rel_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(rel.sum(1), 1.0, atol=1e-5)
    raw = auto[list(CLASSES)].to_numpy()
    off = auto["baseline_ok"].to_numpy() == 0
    np.testing.assert_allclose(rel[off], raw[off], atol=1e-6)  # fallback: the raw scores
    # the video as its own calibration: its 16 frames are the baseline, none marked in the table
    assert path["baseline_frames"].eq(16).all() and path["baseline_frame"].sum() == 0
    summary = pd.read_csv(tmp_path / "o1" / "summary.csv")
    assert {"rel_dominant", "rel_share_Neutral", "baseline_ok_share"} <= set(summary.columns)
