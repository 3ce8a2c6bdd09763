"""`vnaw predict`'s table, summary and Python API on a real face that leaves the picture (issue 15).

The expected values are computed here from the table with plain numpy, not by the code under test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from gap_video import FACE_FRAMES, write_gap_video

from vnaw.cli import main
from vnaw.inference.table import RELATIVE_COLUMNS, TABLE_COLUMNS
from vnaw.labels import CLASSES

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def predicted(gap_video, tmp_path_factory):
    out = tmp_path_factory.mktemp("pred")
    assert main(["predict", str(gap_video), "--out", str(out), "--threads", "1", "--quiet"]) == 0
    return out


def test_no_face_stretch_gives_empty_cells(predicted):
    table = pd.read_csv(predicted / "gap.csv", keep_default_na=True)
    assert list(table.columns) == TABLE_COLUMNS + RELATIVE_COLUMNS
    assert (table["video"] == "gap").all() and (table["track"] == 1).all()
    face = np.isin(np.arange(24), FACE_FRAMES)
    assert table["face_found"].tolist() == face.astype(int).tolist()
    empty = ["x0", "face_score", "nose_x", *CLASSES, "pred", "pred_index", "ambiguity"]
    empty += RELATIVE_COLUMNS[:-2]  # baseline_frames and baseline: the track's, on every row
    assert table.loc[~face, empty].isna().all().all()  # nothing made up where there is no face
    assert table.loc[face, [c for c in empty if c != "face_score"]].notna().all().all()
    probs = table.loc[face, list(CLASSES)].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    idx = probs.argmax(axis=1)
    assert table.loc[face, "pred_index"].tolist() == idx.tolist()
    assert table.loc[face, "pred"].tolist() == [CLASSES[i] for i in idx]
    top2 = np.sort(probs, axis=1)[:, -2:]
    np.testing.assert_allclose(
        table.loc[face, "ambiguity"], 1 - (top2[:, 1] - top2[:, 0]), atol=2e-6
    )
    # The face (150 px, at x = 200 + 4k, y = 100) lies inside its box; its landmarks inside that.
    x0, y0, x1, y1 = (table.loc[face, c].to_numpy() for c in ("x0", "y0", "x1", "y1"))
    k = np.flatnonzero(face)
    assert (x0 >= 200 + 4 * k - 5).all() and (x1 <= 350 + 4 * k + 5).all()
    assert (y0 >= 95).all() and (y1 <= 255).all()
    assert ((table.loc[face, "nose_x"] > x0) & (table.loc[face, "nose_x"] < x1)).all()
    assert 0 < table.loc[0, "face_score"] <= 1  # frame 1 ran the detector


def test_summary_matches_the_table(predicted):
    table = pd.read_csv(predicted / "gap.csv")
    summary = pd.read_csv(predicted / "summary.csv")
    assert len(summary) == 1
    row = summary.iloc[0]
    face = table["face_found"].to_numpy() == 1
    assert (row["video"], row["track"], row["frames"], row["face_frames"]) == ("gap", 1, 24, 18)
    assert row["face_coverage"] == pytest.approx(18 / 24, abs=1e-6)
    probs = table[list(CLASSES)].to_numpy()[face]
    for k, c in enumerate(CLASSES):
        assert row[f"mean_{c}"] == pytest.approx(probs[:, k].mean(), abs=2e-6)
        share = np.mean(probs.argmax(axis=1) == k)
        assert row[f"share_{c}"] == pytest.approx(share, abs=1e-6)
    counts = np.bincount(probs.argmax(axis=1), minlength=8)
    assert row["dominant"] == CLASSES[int(counts.argmax())]
    rel = table.loc[face, [f"rel_{c}" for c in CLASSES]].to_numpy().argmax(axis=1)
    for k, c in enumerate(CLASSES):
        assert row[f"rel_share_{c}"] == pytest.approx(np.mean(rel == k), abs=1e-6)
    assert row["rel_dominant"] == CLASSES[int(np.bincount(rel, minlength=8).argmax())]
    assert row["baseline_ok_share"] == pytest.approx(table.loc[face, "baseline_ok"].mean())
    assert row["baseline_frames"] == round(0.2 * 18)  # the most neutral fifth of 18 face frames
    assert row["baseline"] == "auto"


def test_analyze_video_equals_the_cli_table(gap_video, predicted):
    import vnaw

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean video gives no warning
        df = vnaw.analyze_video(gap_video, device="cpu")
    cli = pd.read_csv(predicted / "gap.csv")
    assert list(df.columns) == list(cli.columns)
    for col in df.columns:
        if df[col].dtype.kind in "fiu" or col in ("track", "pred_index"):
            got = pd.to_numeric(df[col]).astype(float).to_numpy()
            np.testing.assert_allclose(got, cli[col].astype(float), atol=1e-5, equal_nan=True)
        else:
            assert df[col].fillna("").tolist() == cli[col].fillna("").tolist(), col


def test_folder_same_stems_no_face_and_formats(gap_video, tmp_path, capsys):
    """cam1/clip.mp4, cam2/clip.mp4, x.mp4 beside x.avi: four outputs; a no-face video exits 0."""
    from helpers.face_video import write_video

    d = tmp_path / "in"
    for sub in ("cam1", "cam2"):
        (d / sub).mkdir(parents=True)
        shutil.copy(gap_video, d / sub / "clip.mp4")
    write_video(d / "cam2" / "clip.mp4", 12, faces=1)  # a different video of the same name
    shutil.copy(gap_video, d / "x.mp4")
    shutil.copy(gap_video, d / "x.avi")  # same stem, other extension (an mp4 inside: fine)
    write_video(d / "empty_room.mp4", 10, faces=0)
    out = tmp_path / "out"
    argv = ["predict", str(d), "--out", str(out), "--threads", "1", "--quiet", "--format", "json"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "no face found" in err and "empty_room.mp4" in err and "FAILED" not in err
    tables = {p.relative_to(out).as_posix() for p in out.rglob("*.json")}
    assert tables == {
        "cam1/clip.json",
        "cam2/clip.json",
        "x.mp4.json",
        "x.avi.json",
        "empty_room.json",
    }
    cam2 = pd.DataFrame(json.loads((out / "cam2/clip.json").read_text()))
    assert len(cam2) == 12 and (cam2["video"] == "cam2/clip").all()
    assert len(pd.DataFrame(json.loads((out / "cam1/clip.json").read_text()))) == 24
    room = pd.DataFrame(json.loads((out / "empty_room.json").read_text()))
    assert len(room) == 10 and (room["face_found"] == 0).all() and room["pred"].isna().all()
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["video"]) == ["cam1/clip", "cam2/clip", "empty_room", "x.avi", "x.mp4"]
    no_face = summary[summary["video"] == "empty_room"].iloc[0]
    assert (
        no_face["face_frames"] == 0 and no_face["face_coverage"] == 0 and pd.isna(no_face["track"])
    )


def test_out_existing_file_fails_at_once(gap_video, tmp_path, capsys):
    target = tmp_path / "taken.csv"
    target.write_text("x\n")
    assert main(["predict", str(gap_video), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert str(target) in err and "not a folder" in err and target.read_text() == "x\n"


def test_refused_command_leaves_no_output_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "o"
    assert main(["predict", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "no video or image files found" in capsys.readouterr().err
    assert not out.exists()


def test_parquet_without_pyarrow_is_one_clear_error(gap_video, tmp_path, capsys):
    try:
        import pyarrow  # noqa: F401

        pytest.skip("pyarrow is installed: parquet is written")
    except ImportError:
        pass
    rc = main(["predict", str(gap_video), "--out", str(tmp_path / "o"), "--format", "parquet"])
    assert rc == 2 and "pyarrow" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_image_input_gives_one_row(tmp_path, capsys):
    pytest.importorskip("skimage")
    from PIL import Image

    from helpers.face_video import astronaut_face

    img = np.full((360, 640, 3), 90, np.uint8)
    img[100:250, 250:400] = astronaut_face(150)
    Image.fromarray(img).save(tmp_path / "photo.jpg", quality=95)
    out = tmp_path / "o"
    assert main(["predict", str(tmp_path / "photo.jpg"), "--out", str(out), "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err.lower()
    table = pd.read_csv(out / "photo.csv")
    assert len(table) == 1 and table.loc[0, "face_found"] == 1
    assert table.loc[0, list(CLASSES)].sum() == pytest.approx(1, abs=1e-5)
    assert not list(out.glob("*.png"))  # no timeline for one frame


def test_truncated_video_is_read_with_a_warning(tmp_path, capsys):
    pytest.importorskip("skimage")
    full = write_gap_video(tmp_path / "full.mp4", faststart=True)  # index first: it says 24
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    out = tmp_path / "o"
    assert main(["predict", str(cut), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "promised 24 frames" in err and str(cut) in err
    assert 0 < len(pd.read_csv(out / "cut.csv")) < 24


def test_overlay_keeps_the_audio(tmp_path):
    pytest.importorskip("skimage")
    import av

    video = write_gap_video(tmp_path / "talk.mp4", audio=True)
    out = tmp_path / "o"
    assert main(["predict", str(video), "--out", str(out), "--quiet", "--overlay"]) == 0
    with av.open(str(video)) as src, av.open(str(out / "talk_overlay.mp4")) as dst:
        assert len(dst.streams.audio) == 1
        a_in = sum(p.size for p in src.demux(src.streams.audio[0]))
        a_out = sum(p.size for p in dst.demux(dst.streams.audio[0]))
        assert a_out == a_in > 0  # the same audio bytes, copied
        assert dst.streams.video[0].frames == 24


def test_second_panel_does_not_cover_the_first_label():
    from vnaw.inference.outputs import PANEL_WIDTH, annotate
    from vnaw.inference.predict import TrackResult

    def track(number: int, box: tuple[float, ...]) -> TrackResult:
        probs = np.eye(8)[[4]] * 0.9 + 0.0125
        return TrackResult(f"t{number}", probs, np.array([True]), np.array([box]), track=number)

    colours = [(200, 0, 0)] * 8
    first = track(1, (160, 40, 300, 200))  # its top edge is level with the panels, under panel 2
    alone = np.full((360, 640, 3), 255, np.uint8)
    annotate(alone, first, 0, colours)
    both = alone.copy()
    annotate(both, track(2, (400, 60, 560, 220)), 0, colours)
    changed = (alone != 255).any(axis=2)
    changed[:, :PANEL_WIDTH] = False  # the first face's own panel
    changed[36:44, 155:305] = changed[196:204, 155:305] = False  # its box's edges
    changed[40:200, 155:165] = changed[40:200, 295:305] = False
    assert changed.sum() > 100  # the label is somewhere …
    np.testing.assert_array_equal(both[changed], alone[changed])  # … and still readable


def test_device_choice(tmp_path, capsys):
    pytest.importorskip("torch")  # the training stack
    import torch

    from helpers.tiny_run import make_run
    from vnaw.errors import ConfigError
    from vnaw.inference.analyze import resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: cuda is a valid choice")
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")
    run = make_run(tmp_path / "run")
    assert main(["evaluate", str(run), "--data", str(tmp_path), "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.gpu
def test_analyze_video_on_the_gpu_equals_the_cpu(gap_video):
    import torch

    import vnaw

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")

    cpu = vnaw.analyze_video(gap_video, device="cpu")
    gpu = vnaw.analyze_video(gap_video, device="cuda")
    assert gpu["face_found"].tolist() == cpu["face_found"].tolist()
    np.testing.assert_allclose(gpu[list(CLASSES)], cpu[list(CLASSES)], atol=1e-3)


def test_output_keys_never_collide(tmp_path):
    from pathlib import Path

    from vnaw.inference.outputs import output_keys

    root = Path("/in")
    videos = [root / p for p in ("cam1/clip.mp4", "cam2/clip.mp4", "x.mp4", "x.avi", "summary.mp4")]
    keys = output_keys(videos, root)
    assert keys == {
        root / "cam1/clip.mp4": "cam1/clip",
        root / "cam2/clip.mp4": "cam2/clip",
        root / "x.mp4": "x.mp4",
        root / "x.avi": "x.avi",
        root / "summary.mp4": "summary.mp4",  # not OUT/summary.csv, the batch summary
    }
    assert output_keys([Path("/a/b/clip.mkv")], None) == {Path("/a/b/clip.mkv"): "clip"}


def test_predict_without_a_model_never_imports_torch(gap_video):
    """The practitioner's path (shipped encoder) runs on ONNX Runtime: no torch, timm, Lightning."""
    code = (
        "import sys, vnaw\n"
        f"df = vnaw.analyze_video({str(gap_video)!r})\n"
        "assert df['face_found'].any(), 'no face found'\n"
        "print(sorted(m for m in ('torch', 'timm', 'lightning', 'torchvision') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_encoder_option_runs_that_encoder_alone(gap_video, predicted, tmp_path, capsys):
    pytest.importorskip("torch")  # the training stack
    import torch

    from vnaw import ImageClassifier

    clf = ImageClassifier.from_default()
    clf.save(tmp_path / "same")  # the shipped weights, run by PyTorch instead of ONNX Runtime
    args = ["predict", str(gap_video), "--threads", "1", "--quiet", "--encoder"]
    assert main([*args, str(tmp_path / "same"), "--out", str(tmp_path / "a")]) == 0
    same, ref = pd.read_csv(tmp_path / "a" / "gap.csv"), pd.read_csv(predicted / "gap.csv")
    # The default runs the int8 copy of these weights (within 0.12 of the float model on FERPlus
    # test faces: benchmarks/quantize_encoder.py), PyTorch the float weights.
    np.testing.assert_allclose(same[list(CLASSES)], ref[list(CLASSES)], atol=0.12, equal_nan=True)
    found = ref["face_found"].astype(bool)
    assert (same["pred"][found] == ref["pred"][found]).mean() >= 0.95

    with torch.no_grad():  # an encoder that answers Surprise whatever the face
        clf.head.bias += 50.0 * (torch.arange(len(CLASSES)) == CLASSES.index("Surprise"))
    clf.save(tmp_path / "surprised")
    assert main([*args, str(tmp_path / "surprised"), "--out", str(tmp_path / "b")]) == 0
    b = pd.read_csv(tmp_path / "b" / "gap.csv")
    assert b["face_found"].sum() == ref["face_found"].sum() > 0
    assert set(b.loc[b["face_found"].astype(bool), "pred"]) == {"Surprise"}

    capsys.readouterr()
    assert main([*args, str(tmp_path / "nope"), "--out", str(tmp_path / "c")]) == 2
    assert "nope.safetensors: encoder file not found" in capsys.readouterr().err
    rc = main(
        [*args, str(tmp_path / "same"), "--model", str(tmp_path), "--out", str(tmp_path / "c")]
    )
    assert rc == 2 and "--model and --encoder" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
