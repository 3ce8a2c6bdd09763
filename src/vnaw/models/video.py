"""The video model: image encoder + temporal encoder + how to feed them — paper §3.6, eqs. 6–9.

One class serves end-to-end training, evaluation, ``vnaw predict``, ONNX export and the ABAW
submission: :class:`VideoModel` holds

* ``encoder`` — the frame encoder ``E`` of eq. 6 (a trunk; ``None`` when the model is trained on
  cached features and the encoder is kept apart, see :mod:`vnaw.models.artifact`);
* ``temporal`` — the :class:`~vnaw.models.temporal.TemporalEncoder` of eqs. 7–9 (``None`` for
  the shipped image encoder alone, whose per-frame probabilities are then smoothed over time);
* the preprocessing metadata of ``E`` (input size, channels, normalisation; ``meta``) and the
  window settings of whole-video inference (``clip_length`` P, ``stride``).

How it is saved and read back: :mod:`vnaw.models.artifact`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vnaw.models.frame_encoder import Encoder
from vnaw.models.meta import SMOOTH_HALF_WIDTH, EncoderMeta
from vnaw.models.preprocess import apply_logit_bias, preprocess
from vnaw.models.temporal import TemporalEncoder, TemporalOutput


class VideoModel(nn.Module):
    """``E`` per frame, then the temporal encoder: crops or features → per-frame probabilities."""

    def __init__(
        self,
        temporal: TemporalEncoder | None,
        encoder: Encoder | None = None,
        *,
        clip_length: int = 100,
        stride: int | None = None,
        smooth: int = SMOOTH_HALF_WIDTH,
        description: str = "",
    ) -> None:
        super().__init__()
        if temporal is None and (encoder is None or encoder.head is None):
            raise ValueError("a video model without a temporal model needs an encoder with a head")
        self.temporal = temporal
        self.encoder = encoder.trunk if encoder is not None else None
        # Without a temporal model the encoder's own classifier head gives the probabilities.
        self.head = encoder.head if encoder is not None and temporal is None else None
        self.meta: EncoderMeta | None = encoder.meta if encoder is not None else None
        self.encoder_identity: dict[str, Any] | None = (
            encoder.identity() if encoder is not None else None
        )
        self.clip_length, self.stride, self.smooth = clip_length, stride, smooth
        self.description = description
        self.run_dir: Path | None = None  # the run it was loaded from (vnaw.models.artifact)
        # The encoder's decision offsets, applied to its own probabilities (no temporal model)
        self.logit_bias: list[float] | None = None

    def encode(self, x: Tensor) -> Tensor:
        """Normalised crops ``(N, C, S, S)`` → frame features ``(N, D)``, eq. 6."""
        if self.encoder is None:
            raise ValueError("this video model has no image encoder: it reads cached features")
        return self.encoder(x)  # E(x), Eq. (6)

    def forward(self, frames: Tensor, present: Tensor | None = None) -> TemporalOutput:
        """``(B, T, C, S, S)`` normalised crops, or ``(B, T, D)`` features when the encoder is kept
        apart, and ``present (B, T)`` → per-frame logits/probabilities, eqs. 7–9."""
        if self.temporal is None:
            raise ValueError("this video model has no temporal model")
        if frames.ndim == 5:
            b, t = frames.shape[:2]
            frames = self.encode(frames.flatten(0, 1)).view(b, t, -1)  # (B·T, D) -> (B, T, D)
        return self.temporal(frames, present)

    @torch.no_grad()
    def frame_outputs(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 face crops → per-crop rows for whole-video inference: features ``(N, D)`` for the
        temporal model, or class probabilities ``(N, 8)`` when there is none."""
        assert self.meta is not None
        device = next(self.parameters()).device
        feats = self.encode(preprocess(crops, self.meta).to(device))
        out = feats if self.head is None else self.head(feats).softmax(-1)
        out = out.float().cpu().numpy()
        return out if self.head is None else apply_logit_bias(out, self.logit_bias)
