"""Whole-video inference with overlapping windows — design §8.

A video of ``N`` frames is cut into ``P``-frame windows with stride ``s`` (default ``P/2``, see
:func:`vnaw.data.clips.eval_windows`); each frame's probabilities are the mean over all windows that
cover it. Frames without a face crop are hidden from the temporal encoder (like dropped frames) and
then take the probabilities of the nearest frame that has one (flagged ``face_found = False``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vnaw.data.affwild2 import nearest_crop_index
from vnaw.data.clips import eval_windows

if TYPE_CHECKING:
    import torch

    from vnaw.models.temporal import TemporalEncoder


def average_windows(
    num_frames: int, windows: list[tuple[int, int]], window_probs: list[np.ndarray]
) -> np.ndarray:
    """Mean over covering windows: ``window_probs[i]`` is ``(stop − start, K)`` for window ``i``."""
    if not windows:
        raise ValueError("no windows to average")
    k = window_probs[0].shape[-1]
    total = np.zeros((num_frames, k), dtype=np.float64)
    count = np.zeros(num_frames, dtype=np.int64)
    for (start, stop), probs in zip(windows, window_probs, strict=True):
        total[start:stop] += probs
        count[start:stop] += 1
    if (count == 0).any():
        raise ValueError(f"windows leave frames uncovered: {np.flatnonzero(count == 0)[:5]}…")
    return total / count[:, None]


def fill_from_nearest(probs: np.ndarray, has_face: np.ndarray) -> np.ndarray:
    """Frames without a face take the probabilities of the nearest frame with one (design §8)."""
    return probs[nearest_crop_index(has_face)]


def ambiguity(probs: np.ndarray) -> np.ndarray:
    """``1 − (p₁ − p₂)`` with ``p₁ ≥ p₂`` the two largest probabilities of each row (design §8)."""
    top2 = np.sort(probs, axis=-1)[..., -2:]
    return 1.0 - (top2[..., 1] - top2[..., 0])


def predict_video(
    model: TemporalEncoder,
    features: np.ndarray | torch.Tensor,
    has_face: np.ndarray,
    clip_length: int,
    stride: int | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Per-frame probabilities ``(N, K)`` for one video's features ``(N, D)``.

    Frames with ``has_face`` False are masked out of attention (their features are never used) and
    filled from the nearest frame with a face afterwards.
    """
    import torch

    has_face = np.asarray(has_face, dtype=bool)
    n = int(has_face.shape[0])
    if not has_face.any():
        raise ValueError("no frame of this video has a face: nothing to predict from")
    feats = torch.as_tensor(np.asarray(features, dtype=np.float32))
    device = next(model.parameters()).device
    windows = eval_windows(n, clip_length, stride)
    outputs: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            chunk = windows[i : i + batch_size]
            x = torch.stack([feats[a:b] for a, b in chunk]).to(device)  # (W, P, D)
            present = torch.stack([torch.from_numpy(has_face[a:b]) for a, b in chunk]).to(device)
            probs = model(x, present).probs.float().cpu().numpy()  # (W, P, K)
            outputs.extend(probs[j, : b - a] for j, (a, b) in enumerate(chunk))
    model.train(was_training)
    return fill_from_nearest(average_windows(n, windows, outputs), has_face)
