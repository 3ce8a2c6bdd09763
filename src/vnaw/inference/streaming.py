"""Whole-video inference fed in chunks: windows of the temporal model, or smoothing (design §8).

:class:`WindowStream` gives exactly what :func:`vnaw.evaluation.windows.predict_video` gives on the
whole video while holding only the frames of pending windows; :class:`SmoothStream` averages the
encoder's own probabilities over neighbouring frames with a face (the default model of ``vnaw
predict``, which has no temporal model). What grows with the video is a few numbers per frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vnaw.data.clips import eval_windows
from vnaw.evaluation.windows import fill_from_nearest
from vnaw.models.meta import SMOOTH_HALF_WIDTH

if TYPE_CHECKING:
    from torch import nn


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

    Windows are those of :func:`vnaw.data.clips.eval_windows` (design §8): starts ``0, s, 2s, …``
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

    def _run(self) -> None:
        if not self.pending:
            return
        face = np.asarray(self.face, dtype=bool)
        x = np.stack([self.buf[a - self.offset : b - self.offset] for a, b in self.pending])
        present = np.stack([face[a:b] for a, b in self.pending])
        if hasattr(self.model, "window_probs"):  # an exported run (vnaw.models.onnx_video)
            probs = self.model.window_probs(x, present)
        else:
            probs = _torch_probs(self.model, x, present)
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
        probs = self.total.view() / self.count.view()  # mean over covering windows, design §8
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


def _torch_probs(model, x: np.ndarray, present: np.ndarray) -> np.ndarray:
    import torch

    device = next(model.parameters()).device  # the model may sit on a GPU
    with torch.no_grad():
        out = model(torch.from_numpy(x).to(device), torch.from_numpy(present).to(device))
    return out.probs.float().cpu().numpy()
