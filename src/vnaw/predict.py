"""``vnaw predict VIDEO_OR_DIR`` — raw video → per-frame expression probabilities — SPEC §8, §4, §3.1.

Pipeline per video, streaming in chunks of frames so that memory does not grow with the video
(no decoded frame, crop or feature is kept beyond its chunk and the temporal model's window):

1. decode (PyAV) → 2. detect, track and align faces (:mod:`vnaw.faces`) → 3. image encoder on the
aligned crops (batched per chunk), eq. (6) → 4. the temporal model over ``P``-frame windows of a
rolling buffer (:class:`WindowStream`), whose result equals :func:`vnaw.inference.predict_video`
on the whole video: windows as in SPEC §8, each frame's probabilities averaged over the windows
covering it, frames without a face filled from the nearest frame with one.

Without ``--model`` there is no temporal model: the shipped encoder's own per-frame probabilities are
smoothed with a centred moving average over the frames with a face (:class:`SmoothStream`), and the
command says so. What grows with the video is a few numbers per frame (probability sums, face flag,
box, timestamp), never frames, crops or features.

Outputs in ``--out`` per face track (SPEC §8; ``<track>`` as in :mod:`vnaw.faces`):

* ``<track>.csv`` — ``video,frame,time_s,face_found,<8 classes>,pred,pred_index,ambiguity``;
* ``<track>_timeline.png`` — probabilities over time, predicted-class band, no-face gaps;
* with ``--overlay``: ``<video>_overlay.mp4`` — the video with box, label and probability bars;
* with ``--abaw-test-list FILE``: ``submission.txt`` in the ABAW format of SPEC §3.1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vnaw.data.clips import eval_windows
from vnaw.faces import (
    FaceConfig,
    IoUTracker,
    VideoError,
    add_detector_arguments,
    align,
    find_videos,
    iter_frames,
    make_detector,
    name_tracks,
)
from vnaw.inference import ambiguity, fill_from_nearest
from vnaw.labels import AFFWILD2_HEADER, CLASSES

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
SUBMISSION_HEADER = "image_location," + AFFWILD2_HEADER  # SPEC §3.1
SMOOTH_HALF_WIDTH = 7  # default-model smoothing: ±7 frames ≈ ±0.25 s at 30 fps


# -- models ------------------------------------------------------------------------------------


@dataclass
class Predictor:
    """Image encoder (+ temporal model), and how to feed them."""

    encoder: nn.Module  # (B, C, S, S) normalised → (B, D) features
    input_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    temporal: nn.Module | None = None  # TemporalEncoder; None → smoothed per-frame probabilities
    head: nn.Module | None = None  # the encoder's classifier head, when there is no temporal model
    clip_length: int = 100
    stride: int | None = None
    smooth: int = SMOOTH_HALF_WIDTH
    description: str = ""


def default_predictor(smooth: int = SMOOTH_HALF_WIDTH) -> Predictor:
    """The shipped image encoder alone (no temporal model): per-frame probabilities, smoothed."""
    from vnaw.encoder import ImageClassifier

    clf = ImageClassifier.from_default()
    m = clf.meta
    return Predictor(
        clf.trunk.eval(),
        m.input_size,
        m.channels,
        tuple(m.mean),
        tuple(m.std),
        head=clf.head.eval(),
        smooth=smooth,
        description=(
            "no --model given: per-frame probabilities of the shipped image encoder, smoothed "
            f"over ±{smooth} frames (no temporal model)"
        ),
    )


def run_encoder_meta(cfg) -> dict:
    """How the run's features were made: the feature store's manifest, else ``cfg.encoder``."""
    from vnaw.features import MANIFEST

    if cfg.data.features and (Path(cfg.data.features) / MANIFEST).is_file():
        return json.loads((Path(cfg.data.features) / MANIFEST).read_text())["encoder"]
    name = cfg.encoder.name or "default"
    return {"name": "default:" if name == "default" else name, "weights": None}


def load_predictor(model: str | Path) -> Predictor:
    """Encoder + temporal model of a training run (directory or checkpoint inside one)."""
    from vnaw.evaluate import load_run
    from vnaw.features import load_encoder

    run = load_run(model)
    enc = run_encoder_meta(run.cfg)
    name, weights = str(enc["name"]), enc.get("weights")
    if name.startswith("default:"):
        module, meta = load_encoder("default")
    elif weights and Path(weights).with_suffix(".json").is_file():
        module, meta = load_encoder(weights)  # an encoder file pair
    else:
        seed = str(enc.get("weights_hash", ""))
        random = weights is None and seed.startswith("random-init-seed")
        module, meta = load_encoder(
            name,
            weights,
            random_init=random,
            input_size=enc.get("input_size"),
            channels=int(enc.get("channels", 3)),
            seed=int(seed.removeprefix("random-init-seed")) if random else 0,
        )
    d = run.model.config.feature_dim
    if meta["feature_size"] != d:
        raise ValueError(
            f"{model}: the temporal model expects {d}-d features but encoder {name} gives "
            f"{meta['feature_size']}"
        )
    return Predictor(
        module.eval(),
        int(meta["input_size"]),
        int(meta["channels"]),
        tuple(meta["mean"]),
        tuple(meta["std"]),
        temporal=run.model.eval(),
        clip_length=run.cfg.data.clip_length,
        stride=run.cfg.data.eval_stride,
        description=f"model {model}: encoder {name} + temporal model (P = {run.cfg.data.clip_length})",
    )


def encoder_batch(crops: list[np.ndarray], p: Predictor) -> torch.Tensor:
    """Aligned RGB crops → normalised ``(B, C, S, S)``: grey/RGB, area resize, as extraction does."""
    import cv2

    s = p.input_size
    arrs = []
    for c in crops:
        if p.channels == 1:
            c = cv2.cvtColor(c, cv2.COLOR_RGB2GRAY)  # BT.601 luma, like PIL's "L"
        if c.shape[:2] != (s, s):
            c = cv2.resize(c, (s, s), interpolation=cv2.INTER_AREA)  # antialiased shrink
        arrs.append(c.reshape(s, s, p.channels))
    x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float().div_(255.0)  # (B, C, S, S)
    mean = torch.tensor(p.mean).view(1, -1, 1, 1)
    std = torch.tensor(p.std).view(1, -1, 1, 1)
    return (x - mean) / std


# -- streaming accumulators --------------------------------------------------------------------


class _Growing:
    """A row-appendable array (amortised doubling)."""

    def __init__(self, cols: int, dtype=np.float64) -> None:
        self.data = np.zeros((256, cols), dtype=dtype)
        self.n = 0

    def ensure(self, n: int) -> None:
        if n > len(self.data):
            grown = np.zeros((max(n, 2 * len(self.data)), self.data.shape[1]), self.data.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.n = max(self.n, n)

    def view(self) -> np.ndarray:
        return self.data[: self.n]


class WindowStream:
    """The temporal model over a video fed in chunks; :meth:`finish` equals ``predict_video``.

    Windows are those of :func:`vnaw.data.clips.eval_windows` (SPEC §8): starts ``0, s, 2s, …``
    while ``start + P < N``, then ``[N − P, N)``. A strided window is run as soon as one frame past
    its end has arrived (then ``start + P < N`` is sure); the last one when the video ends. Only the
    frames of pending windows and the last ``P`` frames are buffered.
    """

    def __init__(
        self, model: nn.Module, clip_length: int, stride: int | None = None, batch_size: int = 64
    ):
        self.model, self.p = model, clip_length
        self.stride = max(clip_length // 2, 1) if stride is None else stride
        eval_windows(clip_length + 1, clip_length, self.stride)  # validates the stride
        self.batch_size = batch_size
        self.buf: np.ndarray | None = None  # (M, D) features of frames offset … offset + M − 1
        self.offset = 0
        self.face: list[bool] = []
        self.next_start = 0
        self.pending: list[tuple[int, int]] = []
        self.total = _Growing(0)  # resized once the class count is known
        self.count = _Growing(1, np.int64)

    @property
    def n(self) -> int:
        return len(self.face)

    def push(self, features: np.ndarray, has_face: np.ndarray) -> None:
        """Append ``(n, D)`` features (rows without a face are ignored) and their face flags."""
        features = np.asarray(features, dtype=np.float32)
        self.buf = features if self.buf is None else np.concatenate([self.buf, features])
        self.face.extend(bool(f) for f in has_face)
        while self.next_start + self.p < self.n:
            self.pending.append((self.next_start, self.next_start + self.p))
            self.next_start += self.stride
        if len(self.pending) >= self.batch_size:
            self._run()
        keep = max(0, min(self.pending[0][0] if self.pending else self.next_start, self.n - self.p))
        if keep > self.offset:  # (B, D) rows before ``keep`` are no longer needed
            self.buf = self.buf[keep - self.offset :].copy()
            self.offset = keep

    @torch.no_grad()
    def _run(self) -> None:
        if not self.pending:
            return
        face = np.asarray(self.face, dtype=bool)
        x = torch.from_numpy(
            np.stack([self.buf[a - self.offset : b - self.offset] for a, b in self.pending])
        )
        present = torch.from_numpy(np.stack([face[a:b] for a, b in self.pending]))
        probs = self.model(x, present).probs.float().numpy()  # (W, P, K)
        if self.total.data.shape[1] == 0:
            self.total = _Growing(probs.shape[-1])
        self.total.ensure(self.n)
        self.count.ensure(self.n)
        for (a, b), pr in zip(self.pending, probs, strict=True):
            self.total.data[a:b] += pr[: b - a]
            self.count.data[a:b, 0] += 1
        self.pending = []

    def finish(self) -> np.ndarray:
        """``(N, K)`` per-frame probabilities of the whole video."""
        n = self.n
        if not any(self.face):
            raise ValueError("no frame of this video has a face: nothing to predict from")
        self.pending.append((n - self.p, n) if n > self.p else (0, n))  # flush with the end
        self._run()
        probs = self.total.view() / self.count.view()  # mean over covering windows, SPEC §8
        return fill_from_nearest(probs, np.asarray(self.face, dtype=bool))


class SmoothStream:
    """Per-frame probabilities, centred moving average over the frames with a face (± ``half``)."""

    def __init__(self, half: int = SMOOTH_HALF_WIDTH):
        self.half = half
        self.probs: list[np.ndarray] = []
        self.face: list[bool] = []

    def push(self, probs: np.ndarray, has_face: np.ndarray) -> None:
        self.probs.append(np.asarray(probs, dtype=np.float64))
        self.face.extend(bool(f) for f in has_face)

    def finish(self) -> np.ndarray:
        face = np.asarray(self.face, dtype=bool)
        if not face.any():
            raise ValueError("no frame of this video has a face: nothing to predict from")
        p = np.concatenate(self.probs) * face[:, None]
        csum = np.concatenate([np.zeros((1, p.shape[1])), np.cumsum(p, axis=0)])
        ccount = np.concatenate([[0], np.cumsum(face)])
        n, h = len(face), self.half
        lo, hi = np.clip(np.arange(n) - h, 0, n), np.clip(np.arange(n) + h + 1, 0, n)
        count = (ccount[hi] - ccount[lo])[:, None]
        smoothed = (csum[hi] - csum[lo]) / np.maximum(count, 1)
        return fill_from_nearest(smoothed, face)


# -- one video ---------------------------------------------------------------------------------


@dataclass
class TrackResult:
    name: str
    probs: np.ndarray  # (N, K)
    face_found: np.ndarray  # (N,) bool
    boxes: np.ndarray  # (N, 4) NaN where no face


@dataclass
class VideoResult:
    video: str
    times: np.ndarray  # (N,) seconds
    tracks: list[TrackResult]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def _timed(it: Iterator, timings: dict[str, float], key: str) -> Iterator:
    """Yield from ``it``, adding the time spent inside it to ``timings[key]``."""
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            timings[key] += time.perf_counter() - t0
            return
        timings[key] += time.perf_counter() - t0
        yield item


def predict_file(
    path: str | Path,
    p: Predictor,
    *,
    chunk: int = 64,
    face_config: FaceConfig | None = None,
    detector: str = "mediapipe",
    detector_weights: str | None = None,
) -> VideoResult:
    """Stream one video through faces → encoder → temporal model (module docstring)."""
    path = Path(path)
    cfg = face_config or FaceConfig()
    timings = {"decode": 0.0, "detect": 0.0, "encode": 0.0, "temporal": 0.0}
    detect = make_detector(detector, detector_weights, cfg)
    tracker = IoUTracker()
    streams: dict[int, WindowStream | SmoothStream] = {}
    boxes: dict[int, _Growing] = {}
    seen: dict[int, int] = {}
    sum_x: dict[int, float] = {}
    times: list[float] = []
    dim = None

    def new_stream() -> WindowStream | SmoothStream:
        if p.temporal is not None:
            return WindowStream(p.temporal, p.clip_length, p.stride)
        return SmoothStream(p.smooth)

    def flush(start: int, items: list[tuple[int, int, np.ndarray]]) -> None:
        """Encode the chunk's crops, push a row per frame to every track."""
        nonlocal dim
        t0 = time.perf_counter()
        n = len(times) - start
        out = None
        if items:
            with torch.no_grad():
                feats = p.encoder(encoder_batch([c for _, _, c in items], p))
                out = (feats if p.head is None else p.head(feats).softmax(-1)).float().numpy()
            dim = out.shape[1]
        timings["encode"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        if dim is None:
            return  # no face yet in the video: rows are pushed once a track exists
        for tid in {t for _, t, _ in items} - set(streams):
            streams[tid] = new_stream()
            for a in range(0, start, 256):  # frames before the track's first chunk: no face
                m = min(256, start - a)
                streams[tid].push(np.zeros((m, dim), np.float32), np.zeros(m, bool))
        for tid, stream in streams.items():
            rows = np.zeros((n, dim), np.float32)
            face = np.zeros(n, bool)
            for (k, t, _), row in zip(items, out if out is not None else [], strict=False):
                if t == tid:
                    rows[k - start], face[k - start] = row, True
            stream.push(rows, face)
        timings["temporal"] += time.perf_counter() - t0

    items: list[tuple[int, int, np.ndarray]] = []  # (frame, track, aligned crop)
    start = 0
    try:
        for fr in _timed(iter_frames(path), timings, "decode"):
            t0 = time.perf_counter()
            times.append(fr.time)
            faces = detect(fr.rgb)
            for tid, face in zip(tracker.update([f.box for f in faces]), faces, strict=True):
                crop = align(fr.rgb, face.points, cfg.crop_size, cfg.template_scale)
                items.append((fr.index, tid, crop))
                boxes.setdefault(tid, _Growing(4)).ensure(fr.index + 1)
                boxes[tid].data[fr.index] = face.box
                seen[tid] = seen.get(tid, 0) + 1
                sum_x[tid] = sum_x.get(tid, 0.0) + float(face.box[0] + face.box[2]) / 2
            timings["detect"] += time.perf_counter() - t0
            if len(times) - start >= chunk:
                flush(start, items)
                items, start = [], len(times)
        if len(times) > start:
            flush(start, items)
    finally:
        detect.close()
    n = len(times)
    t0 = time.perf_counter()
    names = name_tracks(
        path.stem, seen, {t: sum_x[t] / seen[t] for t in seen}, n, cfg.min_track_fraction
    )
    results = []
    for tid, name in sorted(names.items(), key=lambda kv: kv[1]):
        stream = streams[tid]
        face = np.asarray(stream.face, dtype=bool)
        box = np.full((n, 4), np.nan)
        b = boxes[tid].view()
        box[: len(b)] = np.where(face[: len(b), None], b, np.nan)
        results.append(TrackResult(name, stream.finish(), face, box))
    timings["temporal"] += time.perf_counter() - t0
    if not results:
        raise VideoError(f"{path}: no face found in any of its {n} frames; nothing to predict")
    return VideoResult(path.stem, np.asarray(times), results, timings)


# -- outputs -----------------------------------------------------------------------------------


def frame_table(video: str, times: np.ndarray, track: TrackResult):
    """The per-frame table of SPEC §8 with exactly :data:`TABLE_COLUMNS`."""
    import pandas as pd

    probs = track.probs / track.probs.sum(axis=1, keepdims=True)  # exact sums despite float error
    idx = probs.argmax(axis=1)
    df = pd.DataFrame(probs, columns=list(CLASSES))
    df.insert(0, "face_found", track.face_found.astype(int))
    df.insert(0, "time_s", np.round(times, 4))
    df.insert(0, "frame", np.arange(1, len(probs) + 1))  # 1-based, SPEC §8
    df.insert(0, "video", track.name)
    df["pred"] = [CLASSES[i] for i in idx]
    df["pred_index"] = idx
    df["ambiguity"] = ambiguity(probs)
    return df[TABLE_COLUMNS]


def write_outputs(result: VideoResult, out: Path, note: str = "") -> list[Path]:
    """CSV + timeline PNG per track."""
    from vnaw.plots import plot_timeline

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for tr in result.tracks:
        csv_path = out / f"{tr.name}.csv"
        tmp = csv_path.with_name(f".{csv_path.name}.tmp")
        frame_table(result.video, result.times, tr).to_csv(tmp, index=False, float_format="%.6f")
        tmp.replace(csv_path)
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

    from vnaw.plots import CLASS_COLORS

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


def read_test_list(path: str | Path) -> list[tuple[str, int]]:
    """The organisers' list (SPEC §3.1): ``(video, 1-based frame)`` per line, in file order.

    Lines are ``<video>/<k:05d>.jpg`` optionally followed by ``,…``; a header line is skipped.
    """
    items = []
    for i, line in enumerate(Path(path).read_text().splitlines()):
        loc = line.split(",")[0].strip()
        if not loc or (i == 0 and loc == "image_location"):
            continue
        video, _, image = loc.rpartition("/")
        if not video or not image.endswith(".jpg") or not image[:-4].isdigit():
            raise ValueError(f"{path}, line {i + 1}: expected <video>/<k:05d>.jpg, got {loc!r}")
        items.append((video, int(image[:-4])))
    return items


def submission_lines(test_list: list[tuple[str, int]], preds: dict[str, np.ndarray]) -> list[str]:
    """Header + ``<video>/<k:05d>.jpg,<class index>`` per test-list entry, in order (SPEC §3.1).

    A frame past the end of its predictions (the organisers counted one more) takes the last one.
    """
    missing = sorted({v for v, _ in test_list if v not in preds})
    if missing:
        raise ValueError(
            f"the test list names {len(missing)} video(s)/track(s) without predictions: "
            f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}"
        )
    lines = [SUBMISSION_HEADER]
    for video, k in test_list:
        pr = preds[video]
        lines.append(f"{video}/{k:05d}.jpg,{int(pr[min(k, len(pr)) - 1])}")
    return lines


# -- CLI ---------------------------------------------------------------------------------------


def _cmd_predict(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads) if args.threads else None
    try:
        p = load_predictor(args.model) if args.model else default_predictor()
    except (FileNotFoundError, ValueError) as err:
        print(f"predict: {err}", file=sys.stderr)
        return 2
    print(f"predict: {p.description}", file=sys.stderr)
    if args.detector != "mediapipe":
        try:
            make_detector(args.detector, args.detector_weights)  # fails early, before any video
        except ValueError as err:
            print(f"predict: {err}", file=sys.stderr)
            return 2
    videos = find_videos(args.input)
    if not videos:
        print(f"predict: no video files under {args.input}", file=sys.stderr)
        return 2
    out = Path(args.out)
    note = "encoder only, smoothed" if p.temporal is None else "V-NAW"
    failures: list[str] = []
    preds: dict[str, np.ndarray] = {}
    from tqdm import tqdm

    for v in tqdm(videos, desc="predict", unit="video", disable=len(videos) < 2 or args.quiet):
        try:
            res = predict_file(
                v,
                p,
                chunk=args.chunk,
                face_config=FaceConfig(max_faces=args.max_faces, detect_every=args.detect_every),
                detector=args.detector,
                detector_weights=args.detector_weights,
            )
            write_outputs(res, out, note)
            if args.overlay:
                write_overlay(v, res, out / f"{res.video}_overlay.mp4")
        except (VideoError, OSError, ValueError) as err:
            failures.append(str(err))
            tqdm.write(f"predict: FAILED {err}", file=sys.stderr)
            continue
        for tr in res.tracks:
            preds[tr.name] = tr.probs.argmax(axis=1)
        n = len(res.times)
        total = sum(res.timings.values())
        if not args.quiet:
            tqdm.write(
                f"predict: {res.video}: {n} frames, tracks {[t.name for t in res.tracks]}, "
                f"{n / max(total, 1e-9):.0f} frames/s",
                file=sys.stderr,
            )
    if args.abaw_test_list:
        try:
            lines = submission_lines(read_test_list(args.abaw_test_list), preds)
        except (OSError, ValueError) as err:
            print(f"predict: no submission written: {err}", file=sys.stderr)
            return 1
        sub = out / "submission.txt"
        tmp = sub.with_name(f".{sub.name}.tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(sub)  # a crash never leaves half a submission file
        print(f"predict: wrote {sub} ({len(lines) - 1} frames)", file=sys.stderr)
    if failures:
        print(f"predict: {len(failures)} of {len(videos)} video(s) failed", file=sys.stderr)
        return 1
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="per-frame expression probabilities for raw videos (SPEC §8)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("input", metavar="VIDEO_OR_DIR", help="a video file or a folder of videos")
    p.add_argument(
        "--model",
        metavar="RUN_OR_CHECKPOINT",
        help="trained run (directory or .ckpt); default: the shipped encoder, smoothed",
    )
    p.add_argument("--out", default="predictions", metavar="DIR", help="output folder")
    p.add_argument(
        "--overlay", action="store_true", help="also write an annotated copy of the video"
    )
    p.add_argument(
        "--abaw-test-list", metavar="FILE", help="write the ABAW submission file (SPEC §3.1)"
    )
    add_detector_arguments(p)
    p.add_argument("--chunk", type=int, default=64, help="frames per streaming chunk")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_predict)
