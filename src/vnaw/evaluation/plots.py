"""PNG figures: training curves, confusion matrix, per-frame probability timelines, NAW weights.

Matplotlib with the non-interactive Agg backend (no display needed); every function writes one PNG
atomically and returns its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vnaw.files import atomic_path
from vnaw.labels import CLASS_COLORS, CLASSES


def _save(fig: plt.Figure, path: str | Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


def plot_training(metrics_csv: str | Path, path: str | Path) -> Path | None:
    """Training loss and validation macro-F1 per epoch from Lightning's ``metrics.csv``."""
    if not Path(metrics_csv).is_file():
        return None
    df = pd.read_csv(metrics_csv)
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    if "train_loss" in df:
        loss = df.dropna(subset=["train_loss"]).groupby("epoch")["train_loss"].mean()
        ax[0].plot(loss.index, loss.values, marker="o")
    ax[0].set(title="training loss", xlabel="epoch")
    if "val_f1" in df:
        f1 = df.dropna(subset=["val_f1"]).groupby("epoch")["val_f1"].last()
        ax[1].plot(f1.index, 100 * f1.values, marker="o", color="C1")
    ax[1].set(title="validation macro-F1 (%)", xlabel="epoch")
    return _save(fig, path)


def plot_confusion(cm: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (rows: true class) with the raw counts in each cell."""
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
    names = CLASSES[: cm.shape[0]]
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix (row-normalised)")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            colour = "white" if rates[i, j] > 0.5 else "black"
            ax.text(j, i, f"{cm[i, j]}", ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def plot_timeline(
    probs: np.ndarray,
    path: str | Path,
    *,
    times: np.ndarray | None = None,
    face_found: np.ndarray | None = None,
    bands: Sequence[tuple[str, np.ndarray, np.ndarray | None]] | None = None,
    labels: np.ndarray | None = None,
    marks: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Class probabilities over time, broken where no face was found (a grey band, named in the
    legend), and one colour band per reading of the class below them.

    ``bands`` holds ``(name, classes, hatched)``: per-frame classes (``-1``: none) and an optional
    mask of frames to hatch; by default one band, ``"predicted"``, the argmax of ``probs``.
    ``labels`` adds a ``"label"`` band; ``marks`` (a frame mask) draws ticks under the curves
    (``vnaw predict``: the person's baseline frames)."""
    from matplotlib.patches import Patch

    n = probs.shape[0]
    x = np.arange(1, n + 1, dtype=float) if times is None else np.asarray(times, dtype=float)
    face = np.ones(n, bool) if face_found is None else np.asarray(face_found, dtype=bool)
    if bands is None:
        bands = [("predicted", np.where(face, probs.argmax(axis=1), -1), None)]
    if labels is not None:
        bands = [*bands, ("label", np.asarray(labels), None)]
    fig, (ax, *rows) = plt.subplots(
        1 + len(bands), 1, figsize=(10, 3.0 + 0.4 * len(bands)), sharex=True,
        gridspec_kw={"height_ratios": [4] + [0.6] * len(bands)},
    )  # fmt: skip
    curves = np.where(face[:, None], probs, np.nan)  # no line through frames without a face
    for k, name in enumerate(CLASSES):
        ax.plot(x, curves[:, k], color=CLASS_COLORS[k], lw=1.2, label=name)
    end = n - 1
    for start, stop in _runs(~face):
        ax.axvspan(x[start], x[min(stop, end)], color="0.85", lw=0)
    for band, (name, classes, hatched) in zip(rows, bands, strict=True):
        classes = np.asarray(classes)
        for a, b in _runs(np.ones(n, bool), breaks=np.diff(classes) != 0):
            # Each run spans from its first frame to the next run's first frame: no gaps between.
            colour = "0.85" if classes[a] < 0 else CLASS_COLORS[classes[a]]
            band.axvspan(x[a], x[min(b, end)], color=colour, lw=0)
        if hatched is not None:
            for a, b in _runs(np.asarray(hatched, dtype=bool) & face):
                band.axvspan(x[a], x[min(b, end)], facecolor="none", hatch="///", ec="0.3", lw=0)
        band.set_yticks([0.5], [name])
    if marks is not None and np.any(marks):
        ticks = x[np.asarray(marks, dtype=bool)]
        ax.plot(ticks, np.full(len(ticks), -0.015), "|", color="k", ms=5, label="baseline frame")
    handles = [*ax.get_legend_handles_labels()[0], Patch(color="0.85", label="no face")]
    if any(hatched is not None for _, _, hatched in bands):
        handles.append(Patch(facecolor="none", hatch="///", ec="0.3", label="relative = raw"))
    ax.set(ylim=(-0.03, 1.03), ylabel="probability", title=title, xlim=(x[0], x[-1]))
    rows[-1].set_xlabel("time (s)" if times is not None else "frame")
    fig.legend(handles=handles, ncol=11, fontsize=7, loc="lower center", frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return _save(fig, path)


def _runs(mask: np.ndarray, breaks: np.ndarray | None = None) -> list[tuple[int, int]]:
    """``(start, stop)`` index pairs of the True runs of a bool array; ``breaks[i]`` also starts a
    new run at ``i + 1``."""
    padded = np.concatenate([[False], mask, [False]])
    starts = np.flatnonzero(np.diff(padded.astype(np.int8)) == 1)
    stops = np.flatnonzero(np.diff(padded.astype(np.int8)) == -1)
    if breaks is not None:
        cuts = np.flatnonzero(np.asarray(breaks)) + 1
        inside = cuts[mask[cuts] & mask[cuts - 1]]
        starts, stops = np.sort(np.r_[starts, inside]), np.sort(np.r_[stops, inside])
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def plot_weight_histogram(weights: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Histogram of NAW weights ``w*`` (Eq. 11) over the training samples of one epoch."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(np.asarray(weights), bins=40, color="C0")
    ax.set(xlabel="NAW weight w*", ylabel="samples", title=title or "NAW weights, last epoch")
    return _save(fig, path)


def plot_bars(values: dict[str, Sequence[float]], path: str | Path, title: str = "") -> Path:
    """Grouped bars of per-class F1 (%) for a few runs — for ablation and split tables."""
    fig, ax = plt.subplots(figsize=(9, 3.4))
    width = 0.8 / max(len(values), 1)
    for i, (name, f1) in enumerate(values.items()):
        ax.bar(np.arange(len(f1)) + i * width, f1, width, label=name)
    ax.set_xticks(np.arange(len(CLASSES) + 1) + 0.4 - width / 2, [*CLASSES, "Avg."], rotation=30)
    ax.set(ylabel="F1 (%)", title=title)
    ax.legend(fontsize=8)
    return _save(fig, path)
