"""A live MPEG-TS stream on 127.0.0.1, sent in real time by PyAV from a video file: the test (and
benchmark) stand-in for a camera or an RTSP feed.

Run as a script (a process of its own, as a real sender would be):
``python live_stream.py VIDEO FPS [SECONDS]`` listens on ``tcp://127.0.0.1:PORT`` (prints
``listening PORT``), and once a reader connects sends the video's frames (looped to fill SECONDS) re-encoded with x264
(zerolatency), each no earlier than its time at FPS; prints ``sent N`` when done.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path


def free_port() -> int:
    """A port nobody listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sender(video: Path, fps: float = 30, seconds: float = 0):
    """The sender process and its URL (``tcp://127.0.0.1:PORT``); it waits for one reader."""
    proc = subprocess.Popen(
        [sys.executable, __file__, str(video), str(fps), str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()  # "listening PORT"
    if not line.startswith("listening"):
        proc.kill()
        raise RuntimeError(f"the test stream did not start: {line!r}")
    return proc, f"tcp://127.0.0.1:{int(line.split()[1])}"


def send(video: str, fps: float, seconds: float) -> int:
    import av

    with av.open(video) as inp:
        frames = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    total = max(len(frames), round(seconds * fps))
    h, w = frames[0].shape[:2]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        print(f"listening {server.getsockname()[1]}", flush=True)
        conn = server.accept()[0]
    # Small writes, flushed per packet: frames leave as they are encoded, as from a camera.
    with conn, conn.makefile("wb", buffering=0) as sink:
        with av.open(
            sink, "w", format="mpegts", buffer_size=1316, container_options={"flush_packets": "1"}
        ) as out:
            stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(int(fps))}
            start = time.monotonic()
            for k in range(total):
                time.sleep(max(0.0, start + k / fps - time.monotonic()))
                frame = av.VideoFrame.from_ndarray(frames[k % len(frames)], format="rgb24")
                frame.pts, frame.time_base = round(k * 1000 / fps), Fraction(1, 1000)
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return total


if __name__ == "__main__":
    video, fps = sys.argv[1], float(sys.argv[2])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    try:
        print(f"sent {send(video, fps, seconds)}", flush=True)
    except (BrokenPipeError, ConnectionResetError, OSError) as err:  # the reader stopped early
        print(f"stopped {err}", flush=True)
