"""Live sources: cameras, network streams and standard input, opened with PyAV, and a reader that
keeps up with them.

A *source* is what ``vnaw predict`` and :func:`vnaw.stream` are given: a video file, a camera
(``/dev/videoN`` through Video4Linux; ``avfoundation:0`` on macOS, ``dshow:video=NAME`` on
Windows, ``v4l2:/dev/videoN`` spelled out), a network stream PyAV opens (``rtsp://``,
``rtmp://``, ``http(s)://``, ``udp://``, ``tcp://``, ``srt://``, …) or ``-``, a container on
standard input.

:class:`FrameReader` decodes in a thread of its own. In *live* mode it keeps only the newest
frame: the analyser takes whatever is newest when it is ready and the frames it never saw are
reported as skipped (:meth:`FrameReader.take`), so the analysis never falls behind the source. Not
live, every frame is handed over in order (a bounded queue: the decoder waits for the analyser).
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vnaw.errors import VideoError
from vnaw.faces.types import Frame
from vnaw.faces.video import _rgb, rotation, upright

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")
DEVICE_FORMATS = ("v4l2", "avfoundation", "dshow")  # PyAV's (libavdevice's) camera inputs
STDIN = "-"
# How long probing may read before the first frame is handed over: FFmpeg's default (5 s, 5 MB)
# would make a live source start seconds late; half a second is enough for MPEG-TS, RTSP, RTMP.
PROBE_OPTIONS = {"analyzeduration": "500000", "probesize": "1000000"}


@dataclass(frozen=True)
class Source:
    """Where frames come from. ``target`` is what PyAV opens (``format``: its input format)."""

    name: str  # as given by the user; error messages name it
    kind: str  # "file", "camera", "network" or "stdin"
    target: str
    format: str | None = None

    @property
    def is_file(self) -> bool:
        return self.kind == "file"


def parse_source(text: str) -> Source:
    """What kind of source ``text`` names (nothing is opened)."""
    text = str(text)
    if text == STDIN:
        return Source(text, "stdin", text)
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", text)
    if scheme and scheme.group(1).lower() in NETWORK_SCHEMES:
        return Source(text, "network", text)
    prefix, sep, rest = text.partition(":")
    if sep and prefix in DEVICE_FORMATS and rest:
        return Source(text, "camera", rest, prefix)
    if re.fullmatch(r"/dev/video\d+", text):
        return Source(text, "camera", text, "v4l2")
    return Source(text, "file", text)


def is_live_source(text: str) -> bool:
    """True for a camera, a network stream or standard input (anything but a file or folder)."""
    return not parse_source(text).is_file


def source_key(source: Source) -> str:
    """The output name of a source: its file stem, ``video0`` for ``/dev/video0``, ``stdin``, or
    the host, port and path of a URL (``rtsp://cam.local:554/live`` → ``cam.local_554_live``)."""
    if source.kind == "file":
        return Path(source.target).stem
    if source.kind == "stdin":
        return "stdin"
    text = source.target if source.kind == "camera" else source.name.split("://", 1)[1]
    text = text.split("?", 1)[0].split("@")[-1]  # no query, no user:password@
    key = re.sub(r"[^A-Za-z0-9.-]+", "_", text.removeprefix("/dev/")).strip("_.")
    return key or source.kind


def open_source(source: Source, timeout: float = 10.0):
    """The PyAV container of ``source``; a source that cannot be opened raises
    :class:`VideoError` naming it and the reason. ``timeout``: seconds to wait for a network
    source to answer (and, once open, for each read), so a dead URL does not hang."""
    import av

    if source.kind == "file":
        from vnaw.faces.video import check_video_file

        check_video_file(Path(source.target))
    if source.kind == "stdin" and sys.stdin.isatty():
        raise VideoError("-: standard input is a terminal; pipe a stream into it (… | vnaw …)")
    target = sys.stdin.buffer if source.kind == "stdin" else source.target
    try:
        if source.kind == "network":
            return av.open(target, format=source.format, timeout=timeout, options=PROBE_OPTIONS)
        if source.kind == "stdin":
            return av.open(target, format=source.format, options=PROBE_OPTIONS)
        return av.open(target, format=source.format)
    except av.FFmpegError as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise VideoError(f"{source.name}: cannot open ({reason})") from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise VideoError(f"{source.name}: cannot open ({err})") from None


def iter_source(
    container, name: str, *, pace: bool = False, live: bool = False, timeout: float | None = None
) -> Iterator[Frame]:
    """Decode the first video stream of an open ``container``, with timestamps relative to its
    first frame. The frames' ``rgb`` is the decoded PyAV frame, converted by :func:`to_rgb` only
    for the frames that are analysed (most of a live stream's may be skipped). ``pace``: hand
    frames over no faster than their timestamps (a file read as if it were a camera). ``live``:
    slice threads only (frame threads hold a frame back per thread). A stream that breaks off
    ends the iteration (a live source that stops is the end of its recording: warning
    :class:`StreamBrokeOff`; ``timeout``: the read timeout it was opened with, named when it is
    what ended it), raising :class:`VideoError` only if no frame came."""
    import av

    with container:
        if not container.streams.video:
            raise VideoError(f"{name}: contains no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "SLICE" if live else "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        index, first, start = 0, None, time.monotonic()
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else index / rate
                first = t if first is None else first
                t -= first
                if pace:
                    time.sleep(max(0.0, start + t - time.monotonic()))
                yield Frame(index, float(t), frame)
                index += 1
        except (av.FFmpegError, OSError) as err:
            if timeout and isinstance(err, av.ExitError):  # FFmpeg's read timeout fired
                err = f"nothing received for {timeout:g} s"
            if index == 0:
                raise VideoError(f"{name}: no decodable video frame ({err})") from None
            raise StreamBrokeOff(
                f"{name}: the stream broke off after {index} frames ({err})"
            ) from None
        if index == 0:
            raise VideoError(f"{name}: no decodable video frame")


def to_rgb(frame) -> np.ndarray:
    """A decoded PyAV frame (or an RGB array, passed through) as an RGB array, upright (a frame
    with rotation metadata is turned as a player shows it, as for files)."""
    if isinstance(frame, np.ndarray):
        return frame
    return upright(_rgb(frame), rotation(frame))


class StreamBrokeOff(Exception):
    """A source that stopped delivering after some frames: the end of its recording."""


@dataclass
class Arrival:
    """A decoded frame and when it arrived (``time.monotonic()``, right after decoding)."""

    frame: Frame
    arrived: float


@dataclass
class Taken:
    """What :meth:`FrameReader.take` hands over: the frame to analyse (``None`` at the end of the
    stream) and the frames decoded since the last one taken that will never be analysed."""

    arrival: Arrival | None
    skipped: list[tuple[int, float]] = field(default_factory=list)  # (index, time) in order


class FrameReader:
    """Decodes ``frames`` in a thread of its own, ``live`` (newest frame only) or not (every
    frame, in order, at most ``depth`` ahead). Errors of the decoder surface in :meth:`take`."""

    def __init__(self, frames: Iterator[Frame], *, live: bool, depth: int = 8) -> None:
        self.live, self.depth = live, depth
        self.frames = frames
        self.ready: deque[Arrival] = deque()
        self.dropped: list[tuple[int, float]] = []
        self.decoded = 0
        self.ended = False
        self.error: BaseException | None = None
        self.warning: str | None = None  # why the stream ended early, when it broke off
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._work, name="vnaw-live-decode", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            for frame in self.frames:
                arrival = Arrival(frame, time.monotonic())
                with self.cond:
                    if self.live:
                        while self.ready:  # the analyser never saw it: skipped
                            old = self.ready.popleft().frame
                            self.dropped.append((old.index, old.time))
                    else:
                        while len(self.ready) >= self.depth and not self.stop.is_set():
                            self.cond.wait(0.1)
                    self.ready.append(arrival)
                    self.decoded += 1
                    self.cond.notify_all()
                if self.stop.is_set():
                    return
        except StreamBrokeOff as err:
            self.warning = str(err)
        except BaseException as err:  # handed over to the analyser, raised there
            self.error = err
        finally:
            self.frames.close()  # closes the container in this thread
            with self.cond:
                self.ended = True
                self.cond.notify_all()

    def take(self, timeout: float | None = None) -> Taken | None:
        """The next frame to analyse (newest, when live) and the frames skipped before it;
        ``Taken(None, skipped)`` at the end of the stream; ``None`` if nothing came within
        ``timeout`` seconds."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.ready or self.ended, timeout):
                return None
            if self.error is not None:
                raise self.error
            skipped, self.dropped = self.dropped, []
            arrival = self.ready.popleft() if self.ready else None
            self.cond.notify_all()
            return Taken(arrival, skipped)

    def close(self, wait: float = 2.0) -> None:
        """Stop decoding. A network read blocks for at most its timeout; the thread is a daemon,
        so a source that hangs never keeps the process alive."""
        self.stop.set()
        with self.cond:
            self.ready.clear()
            self.cond.notify_all()
        self.thread.join(wait)
