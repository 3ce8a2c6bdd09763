"""Scoring an image classifier on a static set: accuracy, per-class F1, macro-F1 (eqs. 13–15)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vnaw.evaluation.metrics import confusion_matrix, f1_from_confusion
from vnaw.labels import CLASSES
from vnaw.models.encoder import ImageClassifier
from vnaw.models.preprocess import to_input


@torch.no_grad()
def evaluate_classifier(
    model: ImageClassifier,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 512,
    *,
    flip: bool = True,
) -> dict[str, Any]:
    """Accuracy, per-class F1 and macro-F1 (design §8 metric) of a classifier on preloaded images.

    ``flip`` scores the average of each image and its mirror, as ``predict_proba`` does.
    """
    model.eval()
    preds = []
    for start in range(0, len(images), batch_size):
        x = to_input(as_nchw(images[start : start + batch_size]), model.meta)
        preds.append(model.proba(x, flip=flip).argmax(1).numpy())
    pred = np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)
    return metrics_from_predictions(labels, pred)


def metrics_from_predictions(labels: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    cm = confusion_matrix(labels, pred)
    per_class = f1_from_confusion(cm)
    return {
        "n": int(cm.sum()),
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "macro_f1": float(per_class.mean()),
        "per_class_f1": {c: float(v) for c, v in zip(CLASSES, per_class, strict=True)},
        "confusion": cm.tolist(),
    }


def format_report(result: dict[str, Any], name: str = "") -> str:
    """Accuracy, macro-F1 and a markdown row of per-class F1 (percent, design §2 order)."""
    cols = ["F1 %", *CLASSES, "Avg."]
    cells = [name or "F1", *(f"{100 * result['per_class_f1'][c]:.2f}" for c in CLASSES)]
    cells.append(f"{100 * result['macro_f1']:.2f}")
    return (
        f"{name} n={result['n']}  accuracy {100 * result['accuracy']:.2f} %  "
        f"macro-F1 {100 * result['macro_f1']:.2f} %\n"
        + "| "
        + " | ".join(cols)
        + " |\n|"
        + "---|" * len(cols)
        + "\n"
        + "| "
        + " | ".join(cells)
        + " |"
    )


def as_nchw(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Preloaded uint8 images ``(N, H, W)`` or ``(N, H, W, C)`` → ``(N, C, H, W)``."""
    x = torch.as_tensor(images)
    return x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
