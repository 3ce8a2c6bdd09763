"""`vnaw predict --report` in a real headless browser (Debian's chromium, driven over its DevTools
protocol): the page loads with no network, its timeline data equals the table, the cursor follows
seeking and playback, a click on the timeline seeks the video. A screenshot is left in the test's
tmp folder (report.png). Skipped when chromium or websocket-client is not installed."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vnaw.cli import main
from vnaw.labels import CLASSES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
websocket = pytest.importorskip("websocket", reason="websocket-client drives the browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")


class Browser:
    """A headless chromium and one page, spoken to over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
        flags += "--disable-background-networking --disable-component-update --disable-sync "
        flags += "--autoplay-policy=no-user-gesture-required --remote-allow-origins=*"
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                *flags.split(),
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.ws = websocket.create_connection(
            self._page_url(port), timeout=30, suppress_origin=True
        )
        self.n = 0

    def _page_url(self, port: int) -> str:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not start")
            time.sleep(0.2)

    def send(self, method: str, **params) -> dict:
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:  # events arrive in between; skip them
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.n:
                assert "error" not in reply, reply
                return reply["result"]

    def js(self, expression: str):
        r = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


def _wait(browser: Browser, condition: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := browser.js(condition)):
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.05)
    return value


def test_report_in_a_headless_browser(gap_video, tmp_path, browser):
    out = tmp_path / "out"
    rc = main(["predict", str(gap_video), "--out", str(out), "--quiet", "--report", "--overlay"])
    assert rc == 0
    page = out / "gap_report.html"
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    browser.send("Page.enable")
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        width=1100,
        height=1000,
        deviceScaleFactor=1,
        mobile=False,
    )
    browser.send("Page.navigate", url=page.as_uri())
    _wait(browser, "document.readyState === 'complete' && window.vnawReport !== undefined")
    _wait(browser, "document.getElementById('video').readyState >= 2")

    # The timeline draws exactly the table: times, probabilities, empty where no face.
    data = browser.js("window.vnawReport.data")
    table = pd.read_csv(out / "gap.csv")
    np.testing.assert_allclose(data["times"], table["time_s"], atol=1e-4)
    (track,) = data["tracks"]
    face = table["face_found"].to_numpy() == 1
    assert track["face"] == face.astype(int).tolist()
    assert all(track["probs"][i] is None for i in np.flatnonzero(~face))
    drawn = np.array([track["probs"][i] for i in np.flatnonzero(face)])
    np.testing.assert_allclose(drawn, table.loc[face, list(CLASSES)], atol=2e-6)
    assert [p for p in track["pred"] if p is not None] == table.loc[face, "pred_index"].tolist()

    # Seeking moves the cursor to the video's time.
    cursor = "Number(document.querySelector('canvas.timeline').dataset.cursorX)"
    x0 = browser.js(cursor)
    browser.js(
        "new Promise(r => { const v = document.getElementById('video');"
        " v.addEventListener('seeked', () => requestAnimationFrame(() => r(true)), {once: true});"
        " v.currentTime = 0.5; })"
    )
    shown = float(browser.js("document.querySelector('canvas.timeline').dataset.cursorTime"))
    assert shown == pytest.approx(0.5, abs=0.04)
    assert browser.js(cursor) > x0 + 100  # 0.5 s of 0.77 s: well to the right

    # A click on the timeline seeks: a quarter of the way along the drawn time axis.
    rect = browser.js(
        "(() => { const r = document.querySelector('canvas.timeline').getBoundingClientRect();"
        " return [r.left, r.top, r.width, r.height]; })()"
    )
    scale = rect[2] / 960  # canvas pixels → CSS pixels
    x = rect[0] + (40 + 0.25 * (960 - 80)) * scale
    for kind in ("mousePressed", "mouseReleased"):
        browser.send(
            "Input.dispatchMouseEvent", type=kind, x=x, y=rect[1] + 60, button="left", clickCount=1
        )
    expected = data["times"][0] + 0.25 * (data["times"][-1] - data["times"][0])
    _wait(browser, f"Math.abs(document.getElementById('video').currentTime - {expected}) < 0.04")

    # Playing moves the cursor along.
    before = browser.js(cursor)
    browser.js("document.getElementById('video').play().then(() => true)")
    _wait(browser, f"{cursor} > {before} + 20", timeout=10)
    browser.js("document.getElementById('video').pause(), true")

    shot = browser.send("Page.captureScreenshot", format="png")
    (tmp_path / "report.png").write_bytes(base64.b64decode(shot["data"]))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_batch_index_links_every_page(gap_video, tmp_path):
    d = tmp_path / "in"
    (d / "a").mkdir(parents=True)
    shutil.copy(gap_video, d / "a" / "one.mp4")
    shutil.copy(gap_video, d / "two.mp4")
    out = tmp_path / "out"
    assert main(["predict", str(d), "--out", str(out), "--quiet", "--report"]) == 0
    index = (out / "index.html").read_text()
    for page in ("a/one_report.html", "two_report.html"):
        assert f'href="{page}"' in index and (out / page).is_file()
    assert index.count("<tr") == 3  # header + one row per video
