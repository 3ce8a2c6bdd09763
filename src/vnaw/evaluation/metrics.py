"""ABAW EXPR metric — paper §4.1, eqs. 13–15; design §8.

Per-class F1 over all frames with a valid label, pooled over every evaluated video (not averaged
per video), and their unweighted mean over the 8 classes. A class with no true and no predicted
frame scores 0 (as scikit-learn's ``zero_division=0``), so it pulls the mean down.

Symbols → names: ``TP, FP, FN`` → ``tp, fp, fn``; ``F1_c`` → ``per_class[c]``; ``P`` (15) → ``mean``.
"""

from __future__ import annotations

import numpy as np
import torch

from vnaw.labels import IGNORE_INDEX, NUM_CLASSES

ArrayLike = np.ndarray | torch.Tensor | list[int]


def _as_int_array(x: ArrayLike, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name} must hold integer class indices")
        arr = arr.astype(np.int64)
    return arr.reshape(-1).astype(np.int64)


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int = NUM_CLASSES
) -> np.ndarray:
    """``(K, K)`` counts, rows = true class, columns = predicted; ``-1`` true labels ignored."""
    t = _as_int_array(y_true, "y_true")
    p = _as_int_array(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} vs {p.size}")
    keep = t != IGNORE_INDEX
    t, p = t[keep], p[keep]
    for name, arr in (("y_true", t), ("y_pred", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{name} holds labels outside 0..{num_classes - 1} (or -1 in y_true)")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def f1_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class F1, eqs. 13 and 14, from a confusion matrix; 0 where TP = 0 (a class
    never predicted correctly, including one with no true and no predicted frame)."""
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(axis=0) - tp  # predicted c, labelled otherwise
    fn = cm.sum(axis=1) - tp  # labelled c, predicted otherwise
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)  # Eq. (14)
    return _ratio(2 * precision * recall, precision + recall)  # F1, Eq. (13)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise, 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def macro_f1(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int = NUM_CLASSES
) -> tuple[np.ndarray, float]:
    """Per-class F1 and their mean over all ``num_classes`` classes — eqs. 13–15.

    Args:
        y_true: frame labels, ``-1`` = no valid label (ignored).
        y_pred: predicted class indices, same length.

    Returns:
        ``(per_class, mean)``: a float array ``(num_classes,)`` in ``[0, 1]`` and its mean.
    """
    per_class = f1_from_confusion(confusion_matrix(y_true, y_pred, num_classes))
    return per_class, float(per_class.mean())  # Eq. (15)
