"""``vnaw predict --serve``: a local page showing the live analysis as it runs.

The standard library's :class:`~http.server.ThreadingHTTPServer` serves one page (``/``: inline
HTML, CSS and JavaScript, no external asset) and a stream of server-sent events (``/events``): per
update the current frame as a JPEG (Pillow), each face's box, label and probabilities. The page
draws the frame and its boxes on a canvas and, per face, a scrolling timeline of the last
``TIMELINE_SECONDS`` seconds. Updates are sent at most ``rate`` times a second (the analysis does
not wait for a browser); a page opened late starts from the current frame. At the end of the
stream an ``end`` event tells the page to stop listening (it says "stream ended"), then the server
closes. Bound to 127.0.0.1 unless told otherwise: the page shows camera images.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vnaw.inference.live import LiveFrame
from vnaw.labels import CLASSES

TIMELINE_SECONDS = 30
MAX_WIDTH = 640  # px: frames are scaled down to this before JPEG encoding


def frame_message(frame: LiveFrame, stats: dict[str, Any], quality: int = 75) -> dict[str, Any]:
    """What the page gets for one analysed frame: the image (a JPEG data URL, at most
    ``MAX_WIDTH`` wide), its size, and per face its box (in image pixels), label and
    probabilities."""
    from PIL import Image

    img = Image.fromarray(frame.rgb)
    scale = min(1.0, MAX_WIDTH / img.width)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    faces = []
    for row in frame.rows:
        if row.get("track") is None:
            continue
        face = {"track": row["track"], "found": bool(row["face_found"]), "pred": row["pred"]}
        if row.get("baseline_ok"):  # relative to the person's baseline: shown beside the raw
            face["rel"] = row["rel_pred"]
        if row["pred"] is not None:
            face["box"] = [row[c] * scale for c in ("x0", "y0", "x1", "y1")]
            face["probs"] = [round(row[c], 4) for c in CLASSES]
        faces.append(face)
    return {
        "frame": frame.index,
        "time": round(frame.time, 3),
        "latency": round(frame.latency or 0.0, 4),
        "width": img.width,
        "height": img.height,
        "image": "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode(),
        "faces": faces,
        **stats,
    }


class LiveView:
    """The page's server (module docstring): :meth:`publish` each analysed frame, :meth:`close`
    at the end."""

    def __init__(self, title: str, port: int = 8765, host: str = "127.0.0.1", rate: float = 8.0):
        self.title, self.rate = title, rate
        self.cond = threading.Condition()
        self.message: bytes | None = None
        self.seq = 0
        self.ended = False
        self.clients = 0
        self.last = 0.0
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="vnaw-live-view", daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def publish(self, frame: LiveFrame, stats: dict[str, Any]) -> None:
        """Send ``frame`` to the pages, unless one was sent less than ``1 / rate`` s ago."""
        now = time.monotonic()
        if not frame.analysed or frame.rgb is None or now - self.last < 1 / self.rate:
            return
        self.last = now
        if not self.clients:
            return  # nobody watches: no JPEG to encode (a page opening gets the next one)
        data = json.dumps(frame_message(frame, stats), allow_nan=False).encode()
        with self.cond:
            self.message, self.seq = b"data: " + data + b"\n\n", self.seq + 1
            self.cond.notify_all()

    def close(self, wait: float = 2.0) -> None:
        """Tell every page the stream ended (waiting up to ``wait`` s for them to get it), then
        stop serving."""
        with self.cond:
            self.ended = True
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.clients == 0, wait)
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def events(self, write) -> None:
        """Feed one page's event stream until the end (``write`` raises when the page left)."""
        seen = 0
        with self.cond:
            self.clients += 1
        try:
            write(b"retry: 1000\n\n")
            while True:
                with self.cond:
                    self.cond.wait_for(lambda s=seen: self.seq != s or self.ended, timeout=10)
                    message, seq, ended = self.message, self.seq, self.ended
                if seq != seen and message is not None:
                    write(message)
                    seen = seq
                elif ended:
                    write(b"event: end\ndata: {}\n\n")
                    return
                else:
                    write(b": keep-alive\n\n")
        finally:
            with self.cond:
                self.clients -= 1
                self.cond.notify_all()


def _handler(view: LiveView):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/":
                body = page(view.title).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/events":
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()

                def write(data: bytes) -> None:
                    self.wfile.write(data)
                    self.wfile.flush()

                try:
                    view.events(write)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the page was closed
            else:
                self.send_error(404)

        def log_message(self, format, *args) -> None:
            pass

    return Handler


def page(title: str) -> str:
    from vnaw.evaluation.plots import CLASS_COLORS

    return (
        _PAGE.replace("__TITLE__", json.dumps(title)[1:-1].replace("<", "&lt;"))
        .replace("__CLASSES__", json.dumps(list(CLASSES)))
        .replace("__COLOURS__", json.dumps(list(CLASS_COLORS)))
        .replace("__SPAN__", str(TIMELINE_SECONDS))
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vnaw live · __TITLE__</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1em; background: #fafafa; color: #222; }
#status { margin: .4em 0; color: #555; }
body[data-state="ended"] #status { color: #b00; font-weight: bold; }
canvas { background: #111; display: block; margin-bottom: .6em; max-width: 100%; }
.legend span { display: inline-block; margin-right: 1em; }
.legend i { display: inline-block; width: .9em; height: .9em; margin-right: .3em; }
h2 { font-size: 1em; margin: .6em 0 .2em; }
</style></head>
<body data-state="connecting">
<h1 style="font-size:1.2em">vnaw live · __TITLE__</h1>
<div id="status">connecting…</div>
<canvas id="frame" width="640" height="360"></canvas>
<div class="legend" id="legend"></div>
<div id="timelines"></div>
<script>
"use strict";
const CLASSES = __CLASSES__, COLOURS = __COLOURS__, SPAN = __SPAN__;
const state = window.vnaw = { updates: 0, frame: 0, faces: 0, ended: false };
const status = document.getElementById("status");
const frame = document.getElementById("frame"), fctx = frame.getContext("2d");
const series = {};  // track -> [[time, probs or null], ...]
document.getElementById("legend").innerHTML = CLASSES.map(
  (c, k) => `<span><i style="background:${COLOURS[k]}"></i>${c}</span>`).join("");

function timeline(track) {
  let c = document.getElementById("timeline" + track);
  if (!c) {
    const h = document.createElement("h2");
    h.textContent = "face " + track;
    c = document.createElement("canvas");
    c.id = "timeline" + track; c.width = 640; c.height = 120;
    document.getElementById("timelines").append(h, c);
  }
  return c;
}

function drawTimeline(track, now) {
  const c = timeline(track), ctx = c.getContext("2d"), pts = series[track];
  const x = t => c.width * (1 - (now - t) / SPAN), y = p => c.height * (1 - p);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
  for (let k = 0; k < CLASSES.length; k++) {
    ctx.strokeStyle = COLOURS[k]; ctx.lineWidth = 1.5; ctx.beginPath();
    let pen = false;
    for (const [t, p] of pts) {
      if (!p) { pen = false; continue; }  // no face: a gap in the line
      pen ? ctx.lineTo(x(t), y(p[k])) : ctx.moveTo(x(t), y(p[k]));
      pen = true;
    }
    ctx.stroke();
  }
}

function show(m) {
  const img = new Image();
  img.onload = () => {
    if (frame.width !== m.width || frame.height !== m.height) {
      frame.width = m.width; frame.height = m.height;
    }
    fctx.drawImage(img, 0, 0);
    fctx.font = "bold 14px system-ui, sans-serif"; fctx.lineWidth = 3;
    for (const f of m.faces) {
      if (!f.box) continue;
      const [x0, y0, x1, y1] = f.box, k = CLASSES.indexOf(f.pred);
      fctx.strokeStyle = COLOURS[k]; fctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      const label = `${f.track}: ${f.pred} ${f.probs[k].toFixed(2)}` +
        (f.rel ? ` · relative: ${f.rel}` : "");
      const w = fctx.measureText(label).width + 8, ty = y0 > 22 ? y0 - 20 : y1 + 2;
      fctx.fillStyle = "rgba(20,20,20,.8)"; fctx.fillRect(x0, ty, w, 19);
      fctx.fillStyle = "#fff"; fctx.fillText(label, x0 + 4, ty + 15);
    }
  };
  img.src = m.image;
  for (const f of m.faces) {
    const s = series[f.track] = series[f.track] || [];
    s.push([m.time, f.probs || null]);
    while (s.length && s[0][0] < m.time - SPAN) s.shift();
  }
  for (const t of Object.keys(series)) drawTimeline(t, m.time);
  Object.assign(state, { updates: state.updates + 1, frame: m.frame, faces: m.faces.length });
  document.body.dataset.state = "live";
  status.textContent = `frame ${m.frame} · ${m.time.toFixed(1)} s · ` +
    `${m.analysed} analysed, ${m.skipped} skipped · latency ${(1000 * m.latency).toFixed(0)} ms`;
}

const events = new EventSource("/events");
events.onmessage = e => show(JSON.parse(e.data));
events.addEventListener("end", () => {
  events.close(); state.ended = true;
  document.body.dataset.state = "ended";
  status.textContent = "stream ended · " + status.textContent;
});
events.onerror = () => { if (!state.ended) status.textContent = "reconnecting…"; };
</script></body></html>
"""
