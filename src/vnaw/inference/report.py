"""``vnaw predict --report``: a self-contained HTML page per video, and an index for a batch.

A page needs no network and no other file but the video: the data (times, per-face probabilities,
predicted classes; empty where no face was found) is a JSON block inside it, the timeline is drawn
by inline JavaScript on a canvas under the video, with a cursor that follows playback; clicking the
timeline seeks the video. The video is embedded as a data URI when it is small
(:data:`EMBED_LIMIT`), else linked by its path relative to the page. The overlay (``--overlay``)
is shown when it was written, else the input video. The template is ``templates/report.html``.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

import numpy as np

from vnaw.files import atomic_text
from vnaw.inference.predict import VideoResult
from vnaw.labels import CLASS_COLORS, CLASSES

EMBED_LIMIT = 20 * 2**20  # bytes: a bigger video is linked, not embedded
PLAYABLE = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".mov": "video/mp4"}


def report_data(result: VideoResult, df) -> dict:
    """What the page draws, taken from the table itself (so page and table cannot disagree)."""

    tracks = []
    for track, g in df.groupby("track", sort=True, dropna=False):
        probs = g[list(CLASSES)].to_numpy()
        face = g["face_found"].to_numpy() == 1
        entry = {
            "track": None if track is None or track != track else int(track),
            "face": face.astype(int).tolist(),
            "probs": [
                np.round(p, 6).tolist() if f else None for p, f in zip(probs, face, strict=True)
            ],
            "pred": [int(p) if f else None for p, f in zip(g["pred_index"], face, strict=True)],
        }
        if "rel_pred" in g:  # person-relative class, whether it is relative, baseline frames
            rel = g[[f"rel_{c}" for c in CLASSES]].to_numpy()
            entry["rel_pred"] = [
                int(r.argmax()) if f else None for r, f in zip(rel, face, strict=True)
            ]
            entry["rel_ok"] = [
                int(v) if f else 0 for v, f in zip(g["baseline_ok"], face, strict=True)
            ]
            entry["baseline"] = np.flatnonzero(g["baseline_frame"].fillna(0).to_numpy()).tolist()
        tracks.append(entry)
    colours = [_hex(c) for c in CLASS_COLORS]
    times = np.round(result.times, 4).tolist()
    return {"times": times, "classes": list(CLASSES), "colours": colours, "tracks": tracks}


def _hex(colour: str) -> str:
    import matplotlib.colors

    return matplotlib.colors.to_hex(colour)


def _video_tag(video: Path, page: Path) -> str:
    kind = PLAYABLE.get(video.suffix.lower())
    if kind is None:
        return f'<p class="note">{html.escape(video.name)}: a browser cannot play this format; ' \
            "run with --overlay for a playable copy.</p>"  # fmt: skip
    if video.stat().st_size <= EMBED_LIMIT:
        src = f"data:{kind};base64," + base64.b64encode(video.read_bytes()).decode()
    else:
        src = _href(Path(os.path.relpath(video.resolve(), page.parent.resolve())))
    return f'<video id="video" controls muted preload="auto" src="{src}"></video>'


def render(title: str, note: str, video_tag: str, summary_html: str, data: dict) -> str:
    template = files("vnaw.inference").joinpath("templates/report.html").read_text()
    # "</" inside the JSON would end the <script> block early.
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    parts = {
        "__TITLE__": html.escape(title),
        "__NOTE__": html.escape(note),
        "__VIDEO__": video_tag,
        "__SUMMARY__": summary_html,
        "__DATA__": payload,
    }
    # One pass: a title or file name that contains "__DATA__" is text, never a placeholder.
    return re.sub("|".join(parts), lambda m: parts[m.group(0)], template)


def _href(relative: Path) -> str:
    """A relative link to a file whatever its name holds (``#``, ``?``, ``%``, spaces, quotes)."""
    return html.escape(quote(relative.as_posix()))


def write_video_report(
    video: Path, result: VideoResult, df, out: Path, key: str, note: str = ""
) -> Path:
    """``OUT/KEY_report.html``."""
    from vnaw.inference.table import summary

    page = out / f"{key}_report.html"
    overlay = out / f"{key}_overlay.mp4"
    shown = overlay if overlay.is_file() else video
    table = summary(df).to_html(index=False, float_format="%.3f", na_rep="", border=0)
    text = render(
        f"{key}: facial expressions",
        f"{video.name} · {len(result.times)} frames · {note}",
        _video_tag(shown, page),
        table,
        report_data(result, df),
    )
    return atomic_text(page, text)


def write_index(out: Path, reports: list[tuple[str, Path]], summary_df) -> Path:
    """``OUT/index.html``: the batch summary and a link to each video's page."""
    links = "".join(
        f'<li><a href="{_href(p.relative_to(out))}">{html.escape(k)}</a></li>' for k, p in reports
    )
    table = summary_df.to_html(index=False, float_format="%.3f", na_rep="", border=0)
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>vnaw predictions'
        "</title><style>body{font:14px system-ui,sans-serif;margin:1.5em auto;max-width:1100px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}table{border-collapse:"
        f"collapse;font-size:12px}}</style></head><body><h1>vnaw predictions</h1><ul>{links}</ul>"
        f"<h2>Summary</h2>{table}</body></html>"
    )
    return atomic_text(out / "index.html", body)
