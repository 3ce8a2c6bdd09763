"""``vnaw predict`` on a live network stream (slow): a real face clip sent as MPEG-TS over TCP on
127.0.0.1 at 30 fps by a separate process (tests/helpers/live_stream.py), analysed as it plays.

Rows appear while the stream plays; every source frame has exactly one row (analysed or skipped)
and the counts add up; SIGINT or SIGTERM mid-stream leaves complete outputs (exit 0); a stream that
stalls ends with a warning; standard input works;
the live page updates in headless Chromium while the stream plays and says so when it ends."""

from __future__ import annotations

import base64
import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from vnaw.inference.live import LIVE_COLUMNS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    pytest.importorskip("skimage")
    from helpers.face_video import write_video

    return write_video(tmp_path_factory.mktemp("live") / "clip.mp4", 90)


@pytest.fixture(autouse=True)
def _no_process_left():
    """Every sender and vnaw started by a test is ended with it, even when it fails."""
    yield
    for proc in _started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _started.clear()


_started: list[subprocess.Popen] = []


def _sender(clip: Path, fps: float, seconds: float):
    from helpers.live_stream import start_sender

    sender, url = start_sender(clip, fps=fps, seconds=seconds)
    _started.append(sender)
    return sender, url


def _vnaw(*args: str, **kw) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vnaw", "predict", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )
    _started.append(proc)
    return proc


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _complete(path: Path) -> pd.DataFrame:
    """The table, checked to hold whole rows only (no row cut short by the stop)."""
    text = path.read_text()
    assert text.endswith("\n")
    with open(path, newline="") as f:
        header, *rows = csv.reader(f)
    assert header[: len(LIVE_COLUMNS)] == LIVE_COLUMNS and "rel_pred" in header  # --baseline auto
    assert all(len(row) == len(header) for row in rows)
    return pd.read_csv(path)


def _accounted(table: pd.DataFrame, frames: int) -> None:
    """One or more rows per source frame 1..frames, each analysed or skipped, never both."""
    per_frame = table.groupby("frame")["analysed"].agg(["min", "max"])
    assert per_frame.index.tolist() == list(range(1, frames + 1))
    assert (per_frame["min"] == per_frame["max"]).all()
    skipped = table[table["analysed"] == 0]
    assert skipped["frame"].is_unique and skipped["pred"].isna().all()
    assert (per_frame["max"] == 1).sum() + len(skipped) == frames


def test_a_live_stream_is_analysed_as_it_plays(clip, tmp_path):
    sender, url = _sender(clip, fps=30, seconds=5)  # 150 frames
    out = tmp_path / "out"
    proc = _vnaw(url, "--out", str(out), "--quiet")
    table = out / f"127.0.0.1_{url.rsplit(':', 1)[1]}.csv"
    rows_while_playing = []
    while sender.poll() is None:
        rows_while_playing.append(_lines(table))
        time.sleep(0.25)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert sender.stdout.read().strip() == "sent 150"
    # Rows were on disk while the stream was still playing, and their number grew.
    grown = [n for n in rows_while_playing if n > 1]
    assert len(grown) >= 4 and grown[-1] > grown[0]
    df = _complete(table)
    _accounted(df, 150)
    analysed = df[df["analysed"] == 1]
    assert analysed["frame"].nunique() >= 15  # several frames a second even on a busy machine
    # Bounded latency: about one frame's analysis (loose bounds: the test machine is shared).
    assert analysed["latency_s"].median() < 1.0 and analysed["latency_s"].max() < 5.0
    assert (analysed["face_found"] == 1).mean() > 0.8  # the face is in every frame
    summary = pd.read_csv(out / "summary.csv")
    assert summary["source_frames"].tolist() == [150]
    assert summary["analysed_frames"].tolist() == [analysed["frame"].nunique()]
    assert (out / table.name.replace(".csv", "_timeline.png")).exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_stream_leaves_complete_outputs(sig, clip, tmp_path):
    _, url = _sender(clip, fps=30, seconds=60)
    out = tmp_path / "out"
    proc = _vnaw(url, "--out", str(out), "--quiet", "--format", "json")
    table = out / f"127.0.0.1_{url.rsplit(':', 1)[1]}.csv"
    deadline = time.monotonic() + 60
    while _lines(table) < 30:  # well into the stream
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    proc.send_signal(sig)
    rc = proc.wait(timeout=60)
    err = proc.stderr.read()
    assert rc == 0 and "Traceback" not in err, err
    df = _complete(table)
    last = int(df["frame"].max())
    _accounted(df, last)
    assert pd.read_json(out / table.name.replace(".csv", ".json")).shape == df.shape
    summary = pd.read_csv(out / "summary.csv")
    assert summary["source_frames"].tolist() == [last]
    assert summary["analysed_frames"].tolist() == [df.loc[df["analysed"] == 1, "frame"].nunique()]
    png = out / table.name.replace(".csv", "_timeline.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "analysed" in err.splitlines()[-1]  # the final line says what was done


def test_a_stream_that_stalls_ends_with_a_warning(clip, tmp_path):
    """A sender that stops sending (frozen, the connection left open) is given up after the read
    timeout: a warning naming the source and why, complete outputs, exit 0."""
    sender, url = _sender(clip, fps=30, seconds=60)
    out = tmp_path / "out"
    proc = _vnaw(url, "--out", str(out), "--quiet", "--open-timeout", "2")
    table = out / f"127.0.0.1_{url.rsplit(':', 1)[1]}.csv"
    deadline = time.monotonic() + 60
    while _lines(table) < 30:
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    sender.send_signal(signal.SIGSTOP)
    try:
        rc = proc.wait(timeout=60)
    finally:
        sender.send_signal(signal.SIGCONT)
    err = proc.stderr.read()
    assert rc == 0, err
    assert f"{url}: the stream broke off after" in err and "nothing received for 2 s" in err
    df = _complete(table)
    _accounted(df, int(df["frame"].max()))


def test_standard_input_not_live_analyses_every_frame(clip, tmp_path):
    import av

    ts = tmp_path / "clip.ts"  # MPEG-TS: a container that can be read from a pipe
    with av.open(str(clip)) as inp, av.open(str(ts), "w", format="mpegts") as dst:
        s = dst.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 640, 360, "yuv420p"
        for frame in inp.decode(video=0):
            frame.pts = None
            for p in s.encode(frame):
                dst.mux(p)
        for p in s.encode():
            dst.mux(p)
    out = tmp_path / "out"
    with open(ts, "rb") as f:
        proc = _vnaw("-", "--no-live", "--out", str(out), "--quiet", stdin=f)
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    df = _complete(out / "stdin.csv")
    _accounted(df, 90)
    assert (df["analysed"] == 1).all()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")
def test_the_live_page_updates_while_the_stream_plays(clip, tmp_path):
    pytest.importorskip("websocket", reason="websocket-client drives the browser")
    from test_report import Browser

    from helpers.live_stream import free_port

    sender, url = _sender(clip, fps=30, seconds=8)
    port = free_port()
    proc = _vnaw(url, "--out", str(tmp_path / "out"), "--quiet", "--serve", str(port))
    browser = Browser(tmp_path / "profile")
    try:
        deadline = time.monotonic() + 60
        while "live view at" not in (line := proc.stderr.readline()):
            assert line and time.monotonic() < deadline, "no live view"
        page = f"http://127.0.0.1:{port}/"
        assert line.strip().endswith(page)
        browser.send("Page.navigate", url=page)
        seen = []
        while sender.poll() is None and time.monotonic() < deadline:
            state = browser.js("window.vnaw ? JSON.stringify(window.vnaw) : null")
            if state:
                seen.append(json.loads(state))
            time.sleep(0.3)
        updates = [int(s["updates"]) for s in seen]
        frames = [int(s["frame"]) for s in seen if s["updates"]]
        assert updates and updates[-1] >= 5, updates  # several updates while it played
        assert len(set(frames)) >= 3 and frames == sorted(frames)  # and each a newer frame
        assert max(int(s["faces"]) for s in seen) == 1
        # The frame canvas shows the picture (not the empty black canvas).
        lit = browser.js(
            "(() => { const c = document.getElementById('frame');"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let n = 0; for (let i = 0; i < d.length; i += 4) n += d[i] > 40; return n; })()"
        )
        assert lit > 1000
        assert browser.js("document.querySelectorAll('#timelines canvas').length") == 1
        # The stream ends: the page is told, stops listening, and the command exits 0.
        assert proc.wait(timeout=60) == 0
        end = time.monotonic() + 10
        while not browser.js("window.vnaw.ended"):
            assert time.monotonic() < end, "the page was not told the stream ended"
            time.sleep(0.1)
        assert browser.js("document.body.dataset.state") == "ended"
        assert "stream ended" in browser.js("document.getElementById('status').textContent")
        shot = browser.send("Page.captureScreenshot", format="png")["data"]
        (tmp_path / "live.png").write_bytes(base64.b64decode(shot))
    finally:
        browser.close()
