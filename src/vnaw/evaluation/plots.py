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
from vnaw.labels import CLASSES

# One colour per class, fixed so every figure reads the same way.
CLASS_COLORS = (
    "#7f7f7f",
    "#d62728",
    "#8c564b",
    "#9467bd",
    "#ffbf00",
    "#1f77b4",
    "#17becf",
    "#2ca02c",
)


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
    labels: np.ndarray | None = None,
    face_found: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Class probabilities over time, the predicted-class band, the labels if known, no-face gaps."""
    n = probs.shape[0]
    x = np.arange(1, n + 1) if times is None else np.asarray(times)
    rows = 3 if labels is not None else 2
    fig, axes = plt.subplots(
        rows, 1, figsize=(10, 1.2 + 1.0 * rows), sharex=True,
        gridspec_kw={"height_ratios": [4] + [0.6] * (rows - 1)},
    )  # fmt: skip
    ax = axes[0]
    for k, name in enumerate(CLASSES):
        ax.plot(x, probs[:, k], color=CLASS_COLORS[k], lw=1, label=name)
    if face_found is not None:
        for start, stop in _runs(~np.asarray(face_found, dtype=bool)):
            ax.axvspan(x[start], x[min(stop, n - 1)], color="0.85", lw=0)
    ax.set(ylim=(0, 1), ylabel="probability", title=title)
    ax.legend(ncol=8, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02 - 0.3 * rows))
    _band(axes[1], x, probs.argmax(axis=1), "predicted")
    if labels is not None:
        _band(axes[2], x, np.asarray(labels), "label")
    axes[-1].set_xlabel("time (s)" if times is not None else "frame")
    return _save(fig, path)


def _band(ax: plt.Axes, x: np.ndarray, classes: np.ndarray, name: str) -> None:
    colours = np.array([matplotlib.colors.to_rgb(c) for c in CLASS_COLORS] + [(1, 1, 1)])
    idx = np.where(classes < 0, len(CLASS_COLORS), classes)  # −1 → white
    ax.imshow(colours[idx][None], aspect="auto", extent=(x[0], x[-1], 0, 1))
    ax.set_yticks([0.5], [name])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` index pairs of the True runs of a bool array."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2], edges[1::2], strict=True))


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
