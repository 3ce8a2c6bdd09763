"""Live input (vnaw.faces.sources, vnaw.inference.live, live_outputs): what a source string names,
the reader that skips frames to keep up, the causal estimates, the incremental outputs, and the
command line on a dead URL and on a file read live. The network stream itself: test_live_stream.py
(slow)."""

from __future__ import annotations

import csv
import threading
import time

import numpy as np
import pandas as pd
import pytest

from vnaw.faces.sources import FrameReader, Source, parse_source, source_key
from vnaw.faces.types import Frame
from vnaw.inference.live import LIVE_COLUMNS, LiveFrame, TrailingMean
from vnaw.inference.live_outputs import LiveOutputs, cell
from vnaw.labels import CLASSES


@pytest.mark.parametrize(
    ("text", "kind", "target", "fmt", "key"),
    [
        ("clip.mp4", "file", "clip.mp4", None, "clip"),
        ("-", "stdin", "-", None, "stdin"),
        ("/dev/video0", "camera", "/dev/video0", "v4l2", "video0"),
        ("v4l2:/dev/video2", "camera", "/dev/video2", "v4l2", "video2"),
        ("avfoundation:0", "camera", "0", "avfoundation", "0"),
        ("dshow:video=Integrated Camera", "camera", "video=Integrated Camera", "dshow",
         "video_Integrated_Camera"),
        ("rtsp://user:pw@cam.local:554/live?x=1", "network", "rtsp://user:pw@cam.local:554/live?x=1",
         None, "cam.local_554_live"),
        ("tcp://127.0.0.1:9000", "network", "tcp://127.0.0.1:9000", None, "127.0.0.1_9000"),
        ("HTTPS://example.org/a.m3u8", "network", "HTTPS://example.org/a.m3u8", None,
         "example.org_a.m3u8"),
        ("/dev/video", "file", "/dev/video", None, "video"),  # not a numbered device
        ("ftp.mp4", "file", "ftp.mp4", None, "ftp"),
    ],
)  # fmt: skip
def test_what_a_source_names(text, kind, target, fmt, key):
    src = parse_source(text)
    assert (src.kind, src.target, src.format) == (kind, target, fmt)
    assert source_key(src) == key


def _frames(n: int, delay: float = 0.0):
    for i in range(n):
        if delay:
            time.sleep(delay)
        yield Frame(i, i / 30, np.full((2, 2, 3), i, np.uint8))


def test_live_reader_skips_to_the_newest_frame_and_accounts_for_every_frame():
    reader = FrameReader(_frames(200, delay=0.001), live=True)
    taken, skipped = [], []
    while (t := reader.take(timeout=5)) is not None:
        skipped += [i for i, _ in t.skipped]
        if t.arrival is None:
            break
        taken.append(t.arrival.frame.index)
        time.sleep(0.01)  # a slow analyser: ten frames arrive meanwhile
    reader.close()
    assert sorted(taken + skipped) == list(range(200))  # every frame exactly once
    assert taken == sorted(taken) and len(skipped) > 100  # in order, most skipped
    # Whenever a frame is taken, the frames skipped just before it are those since the last.
    assert taken[-1] == 199 or skipped[-1] == 199


def test_not_live_the_reader_hands_over_every_frame_in_order():
    reader = FrameReader(_frames(50), live=False, depth=4)
    got = []
    while (t := reader.take(timeout=5)) is not None and t.arrival is not None:
        assert t.skipped == []
        got.append(t.arrival.frame.index)
        time.sleep(0.002)
    reader.close()
    assert got == list(range(50))


def test_the_readers_error_surfaces_in_take():
    def broken():
        yield Frame(0, 0.0, np.zeros((2, 2, 3), np.uint8))
        raise RuntimeError("decoder exploded")

    reader = FrameReader(broken(), live=False)
    with pytest.raises(RuntimeError, match="decoder exploded"):
        for _ in range(3):
            reader.take(timeout=5)
    reader.close()


def test_trailing_mean_averages_the_last_frames_with_a_face():
    m = TrailingMean(half=2)  # the last 3 face frames
    a, b, c, d = (np.eye(4)[k] for k in range(4))
    assert np.allclose(m.push(a), a)
    assert np.allclose(m.push(b), (a + b) / 2)
    assert m.push(None) is None  # no face: no estimate, and nothing enters the mean
    assert np.allclose(m.push(c), (a + b + c) / 3)
    assert np.allclose(m.push(d), (b + c + d) / 3)


def test_cells_are_written_as_the_file_tables_are():
    assert [cell(None), cell(float("nan")), cell(0.25), cell(3), cell("Anger")] == [
        "",
        "",
        "0.250000",
        "3",
        "Anger",
    ]


def _row(frame: int, track, probs=None, analysed=1):
    row = dict.fromkeys(LIVE_COLUMNS)
    row |= {"video": "cam", "frame": frame, "time_s": frame / 10, "analysed": analysed}
    if analysed:
        row |= {"track": track, "face_found": int(probs is not None), "latency_s": 0.01}
    if probs is not None:
        row |= dict(zip(CLASSES, probs, strict=True))
        row |= {"x0": 1.0, "y0": 2.0, "x1": 3.0, "y1": 4.0}
        k = int(np.argmax(probs))
        row |= {"pred": CLASSES[k], "pred_index": k, "ambiguity": 0.5}
    return row


def test_live_outputs_are_complete_and_the_summary_adds_up(tmp_path):
    p1 = np.array([0.7, 0.1, 0, 0, 0.2, 0, 0, 0])  # Neutral
    p2 = np.array([0.1, 0.0, 0, 0, 0.9, 0, 0, 0])  # Happiness
    frames = [
        LiveFrame(1, 0.0, True, [_row(1, None)]),  # no face yet
        LiveFrame(2, 0.1, False, [_row(2, None, analysed=0)]),  # skipped
        LiveFrame(3, 0.2, True, [_row(3, 1, p1)]),
        LiveFrame(4, 0.3, True, [_row(4, 1, p2)]),
        LiveFrame(5, 0.4, True, [_row(5, 1, None)]),  # face lost
        LiveFrame(6, 0.5, True, [_row(6, 1, p2)]),
    ]
    outputs = LiveOutputs(tmp_path, "cam", LIVE_COLUMNS, "csv", summary_every=1e9, timeline_every=0)
    for i, f in enumerate(frames):
        outputs.add(f)
        lines = outputs.table.read_text().splitlines()
        assert len(lines) == 2 + i  # header + one line per frame so far, on disk at once
    written = outputs.close()
    table = pd.read_csv(tmp_path / "cam.csv")
    assert list(table.columns) == LIVE_COLUMNS and len(table) == 6
    assert table["analysed"].tolist() == [1, 0, 1, 1, 1, 1]
    with open(tmp_path / "cam.csv", newline="") as f:
        assert all(len(r) == len(LIVE_COLUMNS) for r in csv.reader(f))
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 1  # the frame before any face is not a track
    s = summary.iloc[0]
    assert (s["track"], s["frames"], s["face_frames"]) == (1, 4, 3)
    assert s["face_coverage"] == pytest.approx(3 / 4)
    assert s["mean_Happiness"] == pytest.approx((0.2 + 0.9 + 0.9) / 3)
    assert s["mean_Neutral"] == pytest.approx((0.7 + 0.1 + 0.1) / 3)
    assert s["dominant"] == "Happiness"
    assert s["share_Happiness"] == pytest.approx(2 / 3)
    assert (s["source_frames"], s["analysed_frames"]) == (6, 5)
    png = tmp_path / "cam_timeline.png"
    assert png in written and png.read_bytes()[:4] == b"\x89PNG"


def test_a_dead_url_is_one_line_and_exit_2(tmp_path, capsys):
    from helpers.live_stream import free_port
    from vnaw.cli import main

    url = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there
    t0 = time.monotonic()
    rc = main(["predict", url, "--out", str(tmp_path / "out"), "--open-timeout", "3"])
    err = capsys.readouterr().err
    assert rc == 2 and time.monotonic() - t0 < 60
    assert err.count("\n") == 1 and url in err and "cannot open" in err, err
    assert not (tmp_path / "out").exists()


def test_whole_video_options_are_refused_live(tmp_path, capsys):
    from vnaw.cli import main

    rc = main(["predict", "rtsp://cam.local/live", "--out", str(tmp_path), "--overlay"])
    err = capsys.readouterr().err
    assert rc == 2 and "--overlay" in err and err.count("\n") == 1
    rc = main(["predict", "rtsp://cam.local/live", "--out", str(tmp_path), "--shard", "1/2"])
    err = capsys.readouterr().err
    assert rc == 2 and "--shard" in err and err.count("\n") == 1
    # and the live options are refused on the file path (they would do nothing there)
    rc = main(["predict", "clip.mp4", "--out", str(tmp_path), "--duration", "5"])
    err = capsys.readouterr().err
    assert rc == 2 and "--duration is for live input" in err and err.count("\n") == 1


def test_stream_a_file_every_frame_causally(gap_video):
    """``vnaw.stream`` on a file, not live: one row per frame, every frame analysed, the rows of
    the face frames complete (probabilities summing to 1), empty where the face is away."""
    from gap_video import FACE_FRAMES

    import vnaw

    rows = list(vnaw.stream(str(gap_video), device="cpu"))
    assert [r["frame"] for r in rows] == list(range(1, 25))
    assert all(r["analysed"] == 1 and r["latency_s"] >= 0 for r in rows)
    face = [r["frame"] - 1 for r in rows if r["face_found"] == 1]
    assert face == [f for f in FACE_FRAMES if f >= face[0]]  # found from its first frame on
    for r in rows:
        probs = [r[c] for c in CLASSES]
        if r["face_found"]:
            assert sum(probs) == pytest.approx(1, abs=1e-6) and r["pred"] in CLASSES
        else:
            assert all(p is None for p in probs) and r["pred"] is None


def test_stream_stops_after_duration_and_closes_when_the_loop_breaks(gap_video):
    import vnaw

    rows = list(vnaw.stream(str(gap_video), device="cpu", duration=0.25))
    assert [r["frame"] for r in rows] == list(range(1, 9))  # frames at t < 0.25 s (30 fps)
    before = threading.active_count()
    it = vnaw.stream(str(gap_video), device="cpu")
    next(it)
    it.close()  # the reader thread ends with the generator
    time.sleep(0.2)
    assert threading.active_count() <= before


def test_stdin_from_a_terminal_is_refused(monkeypatch):
    import io

    from vnaw.errors import VideoError
    from vnaw.faces.sources import open_source

    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    with pytest.raises(VideoError, match="standard input is a terminal"):
        open_source(parse_source("-"))


def test_source_dataclass_is_a_file_only_for_files():
    assert Source("x", "file", "x").is_file and not Source("-", "stdin", "-").is_file


def test_causal_relative_scores_against_the_calibration_frames():
    """``--calibrate S``: frames of the first S seconds form the baseline (no relative scores
    meanwhile: ``baseline_ok = 0``, the raw probabilities repeated); after, each frame's ``rel_``
    cells are the relative probabilities against the trimmed mean of those frames."""
    from vnaw.inference.baseline import BaselineConfig, log_probs, relative_probs, trimmed_mean
    from vnaw.inference.live import relative_scores

    rng = np.random.default_rng(0)
    rest = np.array([0.8, 0.1, 0.02, 0.01, 0.01, 0.04, 0.01, 0.01])  # a stern resting face
    smile = np.array([0.3, 0.05, 0.02, 0.01, 0.55, 0.03, 0.02, 0.02])
    scores = relative_scores("auto", calibrate=1.0)(1)
    calib = []
    for k in range(20):  # 10 frames a second: 10 calibration frames, then 10 more
        t = k / 10
        probs = (rest if k < 14 else smile) + rng.uniform(0, 0.01, 8)
        probs /= probs.sum()
        cells = scores.update(probs, t, None)
        rel = np.array([cells[f"rel_{c}"] for c in CLASSES])
        assert cells["baseline_mode"] == "calibration"
        if t <= 1.0:
            calib.append(probs)
            assert cells["baseline_ok"] == 0 and np.allclose(rel, probs)
            continue
        base = trimmed_mean(log_probs(np.array(calib)), BaselineConfig().trim)
        expected = relative_probs(log_probs(probs), base, BaselineConfig().margin)
        assert cells["baseline_ok"] == 1 and cells["baseline_frames"] == len(calib)
        assert np.allclose(rel, expected, atol=1e-9)
        assert cells["rel_pred"] == ("Neutral" if k < 14 else "Happiness")


def test_relative_columns_of_a_stream_say_which_baseline(gap_video):
    """Through ``vnaw.stream``: the mode is in every row; ``baseline=None`` drops the columns.
    (The astronaut smiles all along, so her baseline is never trusted: raw repeated.)"""
    import vnaw

    rows = list(vnaw.stream(str(gap_video), device="cpu", duration=0.5))
    assert {r["baseline_mode"] for r in rows} == {"running"}
    for r in rows:
        if r["face_found"]:
            assert r["baseline_ok"] == 0 and r["rel_Happiness"] == r["Happiness"]
    none = list(vnaw.stream(str(gap_video), device="cpu", baseline=None, duration=0.1))
    assert "rel_pred" not in none[0] and "baseline_mode" not in none[0]


def test_a_file_read_live_through_the_command_line(gap_video, tmp_path, capsys):
    """``vnaw predict FILE --live``: paced by its timestamps, the live table (one row per frame,
    ``analysed`` and ``latency_s``), summary and timeline, and one final line with the counts."""
    from vnaw.cli import main

    out = tmp_path / "out"
    rc = main(["predict", str(gap_video), "--live", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 0 and len(err) == 1
    df = pd.read_csv(out / "gap.csv")
    assert list(df.columns[: len(LIVE_COLUMNS)]) == LIVE_COLUMNS
    assert df["frame"].nunique() == 24 and df["frame"].max() == 24
    analysed = df[df["analysed"] == 1]["frame"].nunique()
    assert f"24 frames, {analysed} analysed" in err[0]
    summary = pd.read_csv(out / "summary.csv")
    assert summary["source_frames"].tolist() == [24]
    assert (out / "gap_timeline.png").exists()


def test_the_live_page_and_its_event_stream(gap_video):
    """The page is self-contained (no external URL), ``/events`` sends the newest frame as a
    JPEG with the face's box, label and probabilities, then ``end`` when the view closes."""
    import http.client
    import json

    from vnaw.inference.live_view import LiveView

    view = LiveView("cam", port=0, rate=1000)
    try:
        host, port = view.server.server_address[:2]
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/")
        page = conn.getresponse().read().decode()
        assert "EventSource" in page and "<canvas" in page
        assert "http" not in page.replace("http-equiv", "")  # no external asset
        conn.request("GET", "/events")
        events = conn.getresponse()
        assert events.getheader("Content-Type") == "text/event-stream"
        assert events.fp.readline() == b"retry: 1000\n"
        events.fp.readline()
        deadline = time.monotonic() + 10
        while not view.clients:  # the handler has registered the page
            assert time.monotonic() < deadline
            time.sleep(0.01)
        rgb = np.zeros((720, 1280, 3), np.uint8)
        probs = [0.1, 0, 0, 0, 0.9, 0, 0, 0]
        row = _row(5, 1, probs)
        row |= {"x0": 100.0, "y0": 200.0, "x1": 300.0, "y1": 400.0}
        view.publish(LiveFrame(5, 0.5, True, [row], rgb, 0.02), {"analysed": 4, "skipped": 1})
        line = events.fp.readline()
        assert line.startswith(b"data: ")
        msg = json.loads(line[6:])
        assert (msg["frame"], msg["width"], msg["height"]) == (5, 640, 360)  # scaled to 640
        assert msg["image"].startswith("data:image/jpeg;base64,")
        (face,) = msg["faces"]
        assert face["box"] == [50.0, 100.0, 150.0, 200.0] and face["pred"] == "Happiness"
        assert face["probs"] == probs and (msg["analysed"], msg["skipped"]) == (4, 1)
        events.fp.readline()
        closer = threading.Thread(target=view.close)
        closer.start()
        assert events.fp.readline() == b"event: end\n"
        closer.join(10)
        assert not closer.is_alive()
    finally:
        if view.thread.is_alive():
            view.close()


@pytest.mark.parametrize("kind", ["encoder", pytest.param("temporal", marks=pytest.mark.slow)])
def test_every_row_is_final_when_produced(kind, gap_video, tmp_path):
    """Causal estimates: a frame's row does not change when later frames exist — the rows of the
    first 0.3 s are the same whether the analysis stops there or goes on (a centred average or
    the mean of the windows covering a frame would change them). With a temporal model too."""
    import vnaw

    model = None
    if kind == "temporal":
        from helpers.tiny_run import make_run

        model = make_run(tmp_path / "run", clip_length=6, stride=2)
    whole = list(vnaw.stream(str(gap_video), model=model, device="cpu", baseline=None))
    head = list(vnaw.stream(str(gap_video), model=model, device="cpu", baseline=None,
                            duration=0.3))  # fmt: skip
    assert len(head) == 9 and [r["frame"] for r in head] == [r["frame"] for r in whole[:9]]
    cols = [*CLASSES, "x0", "y1", "pred"]
    assert [[r[c] for c in cols] for r in head] == [[r[c] for c in cols] for r in whole[:9]]
    probs = np.array([[r[c] for c in CLASSES] for r in whole if r["face_found"]])
    assert np.allclose(probs.sum(axis=1), 1) and len(probs) >= 15
    # The estimate moves with the frames: not one constant row repeated.
    assert kind == "encoder" or np.ptp(probs, axis=0).max() > 1e-4


@pytest.mark.parametrize("turn", [90, 270])
def test_live_frames_are_upright_like_a_files(tmp_path, turn):
    """A source with rotation metadata (a phone streaming portrait video) is analysed upright."""
    import av

    from vnaw.faces.sources import FrameReader, iter_source, open_source, to_rgb

    upright = np.zeros((80, 48, 3), np.uint8)  # portrait: a white band on top, grey on the left
    upright[:16], upright[16:, :12] = 255, 128
    frames = [upright] * 3
    clip = tmp_path / f"r{turn}.mp4"
    with av.open(str(clip), "w") as out:  # stored turned, with the display matrix that undoes it
        s = out.add_stream("mpeg4", rate=10)
        s.height, s.width, s.pix_fmt = 48, 80, "yuv420p"
        s.set_display_rotation(turn)
        for img in frames:
            stored = np.ascontiguousarray(np.rot90(img, k=-turn // 90))
            for packet in s.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    src = parse_source(str(clip))
    reader = FrameReader(iter_source(open_source(src), src.name), live=False)
    got = []
    while (t := reader.take(timeout=10)) is not None and t.arrival is not None:
        got.append(to_rgb(t.arrival.frame.rgb))
    reader.close()
    assert len(got) == 3
    for g, want in zip(got, frames, strict=True):
        assert g.shape == (80, 48, 3) and np.abs(g.astype(int) - want).mean() < 4


def test_baseline_from_a_recording_live(gap_video, tmp_path, capsys):
    """``--baseline PATH`` live: each face is read against the recording's baseline
    (``baseline_mode = given``, ``baseline_frames`` its frame count); a trusted frame's ``rel_``
    cells are its relative probabilities against it, an untrusted one repeats the raw ones."""
    from vnaw.cli import main
    from vnaw.inference.analyze import load_model
    from vnaw.inference.baseline import BaselineConfig, log_probs, relative_probs
    from vnaw.inference.relative import calibrate

    out = tmp_path / "out"
    rc = main(["predict", str(gap_video), "--live", "--baseline", str(gap_video), "--out",
               str(out), "--quiet"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    df = pd.read_csv(out / "gap.csv")
    face = df[df["face_found"] == 1]
    assert len(face) and (face["baseline_mode"] == "given").all()
    (base,) = calibrate(gap_video, load_model(device="cpu"))
    assert (face["baseline_frames"] == len(base.frames)).all()
    raw = face[list(CLASSES)].to_numpy()
    rel = face[[f"rel_{c}" for c in CLASSES]].to_numpy()
    ok = face["baseline_ok"].to_numpy() == 1
    expected = relative_probs(log_probs(raw[ok]), base.logp, BaselineConfig().margin)
    assert np.allclose(rel[ok], expected, atol=1e-5)
    assert np.allclose(rel[~ok], raw[~ok], atol=1e-5)


@pytest.mark.slow
def test_an_exported_run_live_gives_what_the_run_gives(gap_video, tmp_path):
    """``vnaw.stream`` with a run's ONNX export (no PyTorch at inference) gives the run's own
    causal probabilities (the first face frame aside: the graph takes windows of 2 frames or
    more, so that one is read after a masked frame)."""
    import vnaw
    from helpers.tiny_run import make_run
    from vnaw.inference.analyze import load_model
    from vnaw.inference.export import export_onnx
    from vnaw.models.artifact import load_video_model

    model, _ = load_video_model(make_run(tmp_path / "run", clip_length=6, stride=2))
    exported = str(export_onnx(model, tmp_path / "m.onnx"))
    assert not hasattr(load_model(exported, "cpu").temporal, "parameters")  # ONNX, not torch
    rows = {}
    for name, m in (("run", model.eval()), ("onnx", exported)):
        got = list(vnaw.stream(str(gap_video), model=m, device="cpu", baseline=None))
        rows[name] = np.array([[r[c] for c in CLASSES] for r in got if r["face_found"]])
    assert rows["run"].shape == rows["onnx"].shape and len(rows["run"]) >= 15
    np.testing.assert_allclose(rows["onnx"][1:], rows["run"][1:], atol=1e-4)
