"""What ``vnaw predict`` writes per video: the per-frame table, the timeline PNG, the overlay video."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vnaw.files import atomic_path
from vnaw.inference.predict import TrackResult, VideoResult
from vnaw.inference.windows import ambiguity
from vnaw.labels import CLASSES

TABLE_COLUMNS = [
    "video",
    "frame",
    "time_s",
    "face_found",
    *CLASSES,
    "pred",
    "pred_index",
    "ambiguity",
]


def frame_table(video: str, times: np.ndarray, track: TrackResult):
    """The per-frame table of design §8 with exactly :data:`TABLE_COLUMNS`."""
    import pandas as pd

    probs = track.probs / track.probs.sum(axis=1, keepdims=True)  # exact sums despite float error
    idx = probs.argmax(axis=1)
    df = pd.DataFrame(probs, columns=list(CLASSES))
    df.insert(0, "face_found", track.face_found.astype(int))
    df.insert(0, "time_s", np.round(times, 4))
    df.insert(0, "frame", np.arange(1, len(probs) + 1))  # 1-based, design §8
    df.insert(0, "video", track.name)
    df["pred"] = [CLASSES[i] for i in idx]
    df["pred_index"] = idx
    df["ambiguity"] = ambiguity(probs)
    return df[TABLE_COLUMNS]


def write_outputs(result: VideoResult, out: Path, note: str = "") -> list[Path]:
    """CSV + timeline PNG per track."""
    from vnaw.evaluation.plots import plot_timeline

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for tr in result.tracks:
        csv_path = out / f"{tr.name}.csv"
        with atomic_path(csv_path) as tmp:
            frame_table(result.video, result.times, tr).to_csv(
                tmp, index=False, float_format="%.6f"
            )
        png = plot_timeline(
            tr.probs,
            out / f"{tr.name}_timeline.png",
            times=result.times,
            face_found=tr.face_found,
            title=f"{tr.name}  ({note})" if note else tr.name,
        )
        written += [csv_path, Path(png)]
    return written


def write_overlay(path: Path, result: VideoResult, out_path: Path) -> Path:
    """An annotated copy of the video: per track its box, predicted label and 8 probability bars."""
    import av

    from vnaw.evaluation.plots import CLASS_COLORS

    colours = [tuple(int(255 * c) for c in _rgb(col)) for col in CLASS_COLORS]
    with av.open(str(path)) as src, av.open(str(out_path), "w") as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream("libx264", rate=vin.average_rate or 30)
        vout.width, vout.height, vout.pix_fmt = (
            vin.codec_context.width,
            vin.codec_context.height,
            "yuv420p",
        )
        vout.options = {"preset": "veryfast", "crf": "23"}
        for k, frame in enumerate(src.decode(vin)):
            if k >= len(result.times):
                break
            img = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
            for j, tr in enumerate(result.tracks):
                annotate(img, tr, k, j, colours)
            for packet in vout.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                dst.mux(packet)
        for packet in vout.encode():
            dst.mux(packet)
    return out_path


def annotate(img: np.ndarray, track: TrackResult, k: int, slot: int, colours: list) -> None:
    """Draw frame ``k`` of ``track`` on ``img`` (in place): box + label, and a bar panel at ``slot``."""
    import cv2

    font, white, dark = cv2.FONT_HERSHEY_SIMPLEX, (255, 255, 255), (20, 20, 20)
    pr = track.probs[k]
    cls = int(pr.argmax())
    if track.face_found[k]:
        x0, y0, x1, y1 = (int(v) for v in track.boxes[k])
        cv2.rectangle(img, (x0, y0), (x1, y1), colours[cls], 2)
        text = f"{CLASSES[cls]} {pr[cls]:.2f}"
        (tw, th), _ = cv2.getTextSize(text, font, 0.5, 1)
        ty = max(th + 4, y0 - 4)
        cv2.rectangle(img, (x0, ty - th - 4), (x0 + tw + 4, ty + 3), dark, -1)  # legible anywhere
        cv2.putText(img, text, (x0 + 2, ty), font, 0.5, white, 1, cv2.LINE_AA)
    ox = 4 + slot * 150  # one bar panel per track, side by side
    cv2.rectangle(img, (ox - 2, 2), (ox + 144, 20 + 11 * len(CLASSES)), dark, -1)
    cv2.putText(img, track.name[-22:], (ox, 13), font, 0.35, white, 1, cv2.LINE_AA)
    for c, name in enumerate(CLASSES):
        y = 18 + 11 * c
        cv2.rectangle(img, (ox + 60, y), (ox + 60 + int(80 * pr[c]), y + 8), colours[c], -1)
        cv2.putText(img, name, (ox, y + 8), font, 0.3, white, 1, cv2.LINE_AA)


def _rgb(colour) -> tuple[float, float, float]:
    import matplotlib.colors

    return matplotlib.colors.to_rgb(colour)
