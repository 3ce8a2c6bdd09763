"""What ``vnaw predict`` writes per video: the table, the timeline PNG, the overlay video.

Outputs are keyed by the video's path relative to the input folder, without its extension
(:func:`output_keys`): ``cam1/clip.mp4`` → ``OUT/cam1/clip.csv``, so two inputs never share an
output; two videos that differ only in their extension (``x.mp4``, ``x.avi``) keep it
(``OUT/x.mp4.csv``, ``OUT/x.avi.csv``), as does a video named like the batch's own files
(``summary.mp4`` → ``OUT/summary.mp4.csv``, beside ``OUT/summary.csv``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from vnaw.faces.video import first_rotation, upright
from vnaw.files import atomic_path
from vnaw.inference.predict import TrackResult, VideoResult
from vnaw.inference.table import video_table, write_table
from vnaw.labels import CLASS_COLORS, CLASSES

RESERVED = ("summary", "index")
PANEL_WIDTH = 150  # px per track in the overlay's probability panel


def output_keys(videos: list[Path], root: Path | None) -> dict[Path, str]:
    """Per video, the output key: its path relative to ``root`` minus the extension (just the stem
    without a root); with the extension when another video would get the same key."""
    rel = {v: (v.relative_to(root) if root else Path(v.name)) for v in videos}
    stems = Counter(r.with_suffix("").as_posix() for r in rel.values())
    # "summary" and "index" name the batch's own files (summary.csv, index.html).
    stems.update(RESERVED)
    return {
        v: r.as_posix() if stems[r.with_suffix("").as_posix()] > 1 else r.with_suffix("").as_posix()
        for v, r in rel.items()
    }


def timeline_path(out: Path, key: str, track: TrackResult, tracks: int) -> Path:
    name = f"{key}_timeline.png" if tracks == 1 else f"{key}_track{track.track}_timeline.png"
    return out / name


def write_outputs(result: VideoResult, out: Path, key: str, fmt: str = "csv", note: str = ""):
    """The table (``OUT/KEY.FMT``, every track) and a timeline PNG per track; returns
    ``(table, written paths)``."""
    df = video_table(result, key)
    paths = [write_table(df, out / f"{key}.{fmt}", fmt)]
    if len(result.times) > 1:  # one frame (an image) has no timeline: its table says it all
        for tr in result.tracks:
            title = f"{key} · face {tr.track}" + (f"  ({note})" if note else "")
            png = timeline_path(out, key, tr, len(result.tracks))
            paths.append(plot_timeline(tr, result.times, png, title))
    return df, paths


def plot_timeline(track: TrackResult, times: np.ndarray, path: Path, title: str) -> Path:
    """The track's timeline (:func:`vnaw.evaluation.plots.plot_timeline`): the predicted class and,
    with a baseline, a second band of the person-relative class (hatched where it fell back to raw)
    and the baseline frames as ticks."""
    from vnaw.evaluation.plots import plot_timeline as draw

    face = np.asarray(track.face_found, dtype=bool)
    bands = [("predicted", np.where(face, track.probs.argmax(axis=1), -1), None)]
    marks = None
    if track.rel_probs is not None:
        rel = np.where(face, track.rel_probs.argmax(axis=1), -1)
        bands.append(("relative", rel, ~np.asarray(track.baseline_ok, dtype=bool)))
        marks = track.baseline_frame
    return draw(
        track.probs, path, times=times, face_found=face, bands=bands, marks=marks, title=title
    )


def write_overlay(path: Path, result: VideoResult, out_path: Path) -> Path:
    """An annotated copy of the video (its audio kept): per track its box, predicted label and 8
    probability bars. Written under a temporary name and renamed: never left half-written."""
    with atomic_path(out_path) as tmp:
        _overlay(path, result, tmp)
    return out_path


def _overlay(path: Path, result: VideoResult, out_path: Path) -> None:
    import av

    colours = [tuple(int(255 * c) for c in _rgb(col)) for col in CLASS_COLORS]
    turn = first_rotation(path)  # the frames are drawn upright, as the boxes were found
    with av.open(str(path)) as src, av.open(str(out_path), "w", format="mp4") as dst:
        vin = src.streams.video[0]
        ain = src.streams.audio[0] if src.streams.audio else None
        vout = dst.add_stream("libx264", rate=vin.average_rate or 30)
        vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
        if turn in (90, 270):
            vout.width, vout.height = vout.height, vout.width
        vout.pix_fmt, vout.options = "yuv420p", {"preset": "veryfast", "crf": "23"}
        aout = _audio_copy(dst, ain)
        k = 0
        for packet in src.demux([s for s in (vin, ain) if s is not None]):
            if packet.stream is ain:
                if packet.dts is not None and aout is not None:
                    packet.stream = aout  # copied as is: no re-encoding
                    dst.mux(packet)
                continue
            for frame in packet.decode():
                if k < len(result.times):
                    img = np.ascontiguousarray(upright(frame.to_ndarray(format="rgb24"), turn))
                    for tr in result.tracks:
                        annotate(img, tr, k, colours)
                    dst.mux(vout.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
                k += 1
        dst.mux(vout.encode())


def _audio_copy(dst, ain):
    """An output stream copying ``ain``'s packets, or ``None`` if mp4 cannot hold that codec."""
    if ain is None:
        return None
    try:
        return dst.add_stream_from_template(ain)
    except ValueError:  # pragma: no cover - a codec mp4 refuses: the overlay goes without sound
        return None


def shown_probs(track: TrackResult, k: int) -> tuple[np.ndarray, bool]:
    """What the overlay shows for frame ``k``: the person-relative probabilities where the frame
    was read against a good baseline (then ``True``), else the raw ones."""
    if track.rel_probs is not None and track.baseline_ok is not None and track.baseline_ok[k]:
        return track.rel_probs[k], True
    return track.probs[k], False


def annotate(img: np.ndarray, track: TrackResult, k: int, colours: list) -> None:
    """Draw frame ``k`` of ``track`` on ``img`` (in place): box + label, and a bar panel.

    Relative scores are shown where the baseline is good (the label then ends in "rel").
    The panels of the tracks sit side by side along the top edge; a face's label goes below its
    box when a panel would cover it (the label is what a viewer reads)."""
    import cv2

    font, white, dark = cv2.FONT_HERSHEY_SIMPLEX, (255, 255, 255), (20, 20, 20)
    pr, relative = shown_probs(track, k)
    cls = int(pr.argmax())
    panel_bottom = 20 + 11 * len(CLASSES)
    ox = 4 + (track.track - 1) * PANEL_WIDTH
    if track.face_found[k]:
        x0, y0, x1, y1 = (int(v) for v in track.boxes[k])
        cv2.rectangle(img, (x0, y0), (x1, y1), colours[cls], 2)
        text = f"{CLASSES[cls]} {pr[cls]:.2f}" + (" rel" if relative else "")
        (tw, th), _ = cv2.getTextSize(text, font, 0.5, 1)
        ty = y0 - 4 if y0 - th - 8 > panel_bottom else y1 + th + 6  # above the box, or below
        cv2.rectangle(img, (x0, ty - th - 4), (x0 + tw + 4, ty + 3), dark, -1)  # legible anywhere
        cv2.putText(img, text, (x0 + 2, ty), font, 0.5, white, 1, cv2.LINE_AA)
    cv2.rectangle(img, (ox - 2, 2), (ox + PANEL_WIDTH - 6, panel_bottom), dark, -1)
    head = f"face {track.track}" + (" (relative)" if relative else "")
    cv2.putText(img, head, (ox, 13), font, 0.35, white, 1, cv2.LINE_AA)
    if not track.face_found[k]:
        cv2.putText(img, "no face", (ox + 60, 40), font, 0.4, white, 1, cv2.LINE_AA)
        return
    for c, name in enumerate(CLASSES):
        y = 18 + 11 * c
        cv2.rectangle(img, (ox + 60, y), (ox + 60 + int(80 * pr[c]), y + 8), colours[c], -1)
        cv2.putText(img, name, (ox, y + 8), font, 0.3, white, 1, cv2.LINE_AA)


def _rgb(colour) -> tuple[float, float, float]:
    import matplotlib.colors

    return matplotlib.colors.to_rgb(colour)
