"""Live input: frame-to-row latency and the share of frames analysed, at 30 and 60 fps — issue 34.

A 640×360 clip with one real face (``skimage.data.astronaut()``) swaying over a real photograph
(``skimage.data.coffee()``) is sent as a live MPEG-TS stream over TCP on 127.0.0.1, in real time,
by a separate process (``tests/helpers/live_stream.py``, x264 zerolatency); ``vnaw predict URL``
(the shipped encoder, default options, a fresh process) analyses it live. From its table:

* **latency**: ``latency_s`` of the analysed rows, the time from a frame's decoding to its row
  (p50, p95, max), the first ``--settle`` seconds left out (the source's start: the frames buffered
  while the stream is probed arrive at once);
* **share analysed**: analysed frames / source frames (the rest are skipped to keep up);
* and, as the baseline measured in the same run (before and after the live runs), a clip of the
  same kind analysed *not live* (every frame, as fast as it goes: ``vnaw predict - --no-live``
  from a pipe), whose frames/s is the analysis capacity that live mode shares out; the table
  gives each live run's analysed frames per second against it.

Each setting's result is saved under ``--work`` as it finishes and reused by a rerun (``--fresh``
redoes them). Run::

    python benchmarks/live_latency.py --seconds 30

Prints a Markdown table (the one in docs/live.md) and the load average during the run, since the
figures depend on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from _results import add_json_option, write_results

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def make_clip(path: Path, seconds: float, fps: int) -> Path:
    from PIL import Image
    from skimage import data

    from helpers.face_video import write_video

    if path.exists():
        return path
    background = np.asarray(Image.fromarray(data.coffee()).resize((640, 360)))
    return write_video(path, round(seconds * fps), fps=fps, background=background)


def run_live(clip: Path, fps: int, seconds: float, out: Path) -> dict:
    from helpers.live_stream import start_sender

    sender, url = start_sender(clip, fps=fps, seconds=seconds)
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "vnaw", "predict", url, "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - t0
    sent = sender.communicate()[0].strip()
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    return {"url": url, "sent": sent, "wall_s": wall, "load": [load0, os.getloadavg()[0]]}


def run_not_live(clip_ts: Path, out: Path) -> dict:
    """Every frame from a pipe; the rate is taken between the first and the last row appearing
    in the table (start-up and the final files left out)."""
    table = out / "stdin.csv"
    with open(clip_ts, "rb") as f:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vnaw",
                "predict",
                "-",
                "--no-live",
                "--out",
                str(out),
                "--quiet",
            ],
            stdin=f,
            stderr=subprocess.PIPE,
            text=True,
        )
        rows, first, last = 0, None, None
        while proc.poll() is None:
            n = len(table.read_bytes().splitlines()) - 1 if table.exists() else 0
            now = time.monotonic()
            if n > 0 and first is None:
                first, rows0 = now, n
            if n != rows:
                rows, last = n, now
            time.sleep(0.01)
    if proc.returncode:
        raise RuntimeError(proc.stderr.read())
    return {"rate_rows": rows - rows0, "rate_s": last - first}


def to_ts(clip: Path, ts: Path) -> Path:
    """The clip as MPEG-TS (a container that can be read from a pipe)."""
    import av

    if ts.exists():
        return ts
    with av.open(str(clip)) as inp, av.open(str(ts), "w", format="mpegts") as dst:
        s = dst.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 640, 360, "yuv420p"
        s.options = {"preset": "ultrafast"}
        for k, frame in enumerate(inp.decode(video=0)):
            frame.pts, frame.time_base = k, Fraction(1, 30)
            for p in s.encode(frame):
                dst.mux(p)
        for p in s.encode():
            dst.mux(p)
    return ts


def figures(table: Path, settle: float) -> dict:
    import pandas as pd

    df = pd.read_csv(table)
    frames = df["frame"].nunique()
    analysed = df[df["analysed"] == 1].drop_duplicates("frame")
    steady = analysed[analysed["time_s"] >= settle]["latency_s"].to_numpy()
    return {
        "frames": int(frames),
        "analysed": len(analysed),
        "share": len(analysed) / frames,
        "p50_ms": 1000 * float(np.percentile(steady, 50)),
        "p95_ms": 1000 * float(np.percentile(steady, 95)),
        "max_ms": 1000 * float(steady.max()),
        "face_rows": float((analysed["face_found"] == 1).mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30, help="stream length per setting")
    ap.add_argument("--fps", type=int, nargs="+", default=[30, 60])
    ap.add_argument("--settle", type=float, default=2.0, help="seconds left out at the start")
    ap.add_argument("--baseline-seconds", type=float, default=10, help="not-live clip length")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vnaw_live_bench")
    ap.add_argument("--fresh", action="store_true", help="redo every setting")
    add_json_option(ap)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results = {}
    # The baseline runs before and after the live runs: on a shared machine the load drifts.
    for setting in ["before", *args.fps, "after"]:
        live = setting not in ("before", "after")
        seconds = args.seconds if live else args.baseline_seconds
        name = f"{setting}fps_{seconds:g}s" if live else f"notlive_{setting}_{seconds:g}s"
        saved = args.work / f"{name}.json"
        if saved.exists() and not args.fresh:
            results[setting] = json.loads(saved.read_text())
            continue
        fps = setting if live else 30
        clip = make_clip(args.work / f"clip_{fps}fps_{seconds:g}s.mp4", seconds, fps)
        out = args.work / f"out_{name}"
        if live:
            info = run_live(clip, fps, seconds, out)
            port = info["url"].rsplit(":", 1)[1]
            info |= figures(out / f"127.0.0.1_{port}.csv", args.settle)
        else:
            info = run_not_live(to_ts(clip, args.work / f"clip_{seconds:g}s.ts"), out)
            info |= figures(out / "stdin.csv", 0.0)
            info["frames_per_s"] = info["rate_rows"] / info["rate_s"]
            info["load"] = [os.getloadavg()[0]]
        saved.write_text(json.dumps(info, indent=1))
        results[setting] = info
        print(f"{setting}: {json.dumps(info)}", file=sys.stderr, flush=True)

    before, after = results["before"]["frames_per_s"], results["after"]["frames_per_s"]
    print(f"\nbaseline, not live (every frame of a {args.baseline_seconds:g} s clip from a pipe): "
          f"{before:.1f} frames/s analysed before the live runs, {after:.1f} after\n")  # fmt: skip
    print("| input | source frames | analysed | share analysed | analysed/s "
          "| ÷ baseline | latency p50 | p95 | max |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for fps in args.fps:
        r = results[fps]
        rate = r["analysed"] / args.seconds
        rows.append({
            "input": f"{fps} fps live", "source frames": r["frames"], "analysed": r["analysed"],
            "share analysed": round(r["share"], 3), "analysed/s": round(rate, 1),
            "÷ not live": round(rate / ((before + after) / 2), 2),
            "latency p50 ms": round(r["p50_ms"]), "p95 ms": round(r["p95_ms"]),
            "max ms": round(r["max_ms"]),
        })  # fmt: skip
        print(
            f"| {fps} fps live | {r['frames']} | {r['analysed']} | {r['share']:.0%} | "
            f"{rate:.1f} | {rate / ((before + after) / 2):.2f} | "
            f"{r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | {r['max_ms']:.0f} ms |"
        )
    loads = [x for r in results.values() for x in r["load"]]
    print(f"\nload average (1 min) during the runs: {min(loads):.1f}–{max(loads):.1f} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip
    recorded = {
        "not live before, frames/s": round(before, 1),
        "not live after, frames/s": round(after, 1),
        "load average during the runs": f"{min(loads):.1f}–{max(loads):.1f}",
        "rows": rows,
    }
    write_results(args.json, recorded)


if __name__ == "__main__":
    main()
