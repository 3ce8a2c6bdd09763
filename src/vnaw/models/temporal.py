"""Temporal encoder of V-NAW — paper §3.6, eqs. 6–9; design §6.

Frame features ``F = (E(x_1), …, E(x_P))`` (6) → linear projection to the model width → sinusoidal
encoding of each frame's *original* offset in the clip (a skipped frame leaves a gap in time, not a
shift) → ``nn.TransformerEncoder`` with a key-padding mask (7) → one linear layer per frame and a
softmax (8) → the clip probability, the mean of the frame probabilities over the frames present (9).

Not in the paper, off by default (``person_baseline``, design §6.1): a person baseline, the mean
``b`` of the clip's present frame features, either subtracted from every frame's features
(``subtract``: the model sees each frame relative to the person's look over the clip) or given to
the Transformer as one extra token (``token``: it may use the reference as it learns to).

Symbols → names: ``F_v`` → ``features`` ``(B, T, D)``; ``H_i`` → ``hidden``; ``h_{i,p}`` logits →
``logits``; ``p_{i,p}`` → ``probs``; ``p_i`` → ``clip_probs``; ``M_i^p`` → ``present``; ``b`` →
``baseline`` ``(B, D)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from vnaw.config import TemporalConfig
from vnaw.errors import ConfigError

__all__ = [
    "PERSON_BASELINES",
    "TemporalConfig",
    "TemporalEncoder",
    "TemporalOutput",
    "person_baseline",
    "sinusoidal_encoding",
]

PERSON_BASELINES = ("none", "subtract", "token")


class TemporalOutput(NamedTuple):
    logits: Tensor  # (B, T, K) per-frame logits h
    probs: Tensor  # (B, T, K) per-frame softmax p_{i,p}, (8)
    clip_probs: Tensor  # (B, K) clip probability p_i: mean over present frames, (9)


def sinusoidal_encoding(positions: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal encoding of (possibly non-contiguous) frame offsets: ``(B, T)`` → ``(B, T, dim)``."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period)
        * torch.arange(half, device=positions.device, dtype=torch.float32)
        / half
    )
    angles = positions.float()[..., None] * freqs  # (B, T, half)
    enc = torch.cat([angles.sin(), angles.cos()], dim=-1)
    if dim % 2:
        enc = torch.nn.functional.pad(enc, (0, 1))
    return enc


def masked_clip_mean(probs: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``probs (B, T, K)`` over the frames where ``mask (B, T)`` is True — eq. 9.

    A clip with no frame in the mask gets all zeros.
    """
    weights = mask.to(probs.dtype)[..., None]  # (B, T, 1)
    # Deviation: the paper divides by P; we divide by the frames present, so dropped and padded
    # frames enter neither numerator nor denominator (design §6).
    return (probs * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)  # Eq. (9)


def person_baseline(features: Tensor, present: Tensor) -> Tensor:
    """The person baseline ``b = Σ_p M_p F_p / Σ_p M_p``: the mean features ``(B, D)`` of each
    clip's present frames (design §6.1). Frames masked out (skipped, padded, without a face) never
    enter it, so it is the same in training, evaluation and prediction; a clip with no present
    frame gets zeros."""
    return masked_clip_mean(features.float(), present)


class TemporalEncoder(nn.Module):
    """Transformer over a clip's frame features giving per-frame and clip class probabilities.

    Example::

        model = TemporalEncoder(TemporalConfig(feature_dim=512))
        out = model(features, present=keep_mask)  # features (B, T, 512)
        out.probs  # (B, T, 8); out.clip_probs  # (B, 8)
    """

    def __init__(self, config: TemporalConfig | None = None, **overrides) -> None:
        super().__init__()
        if config is None:
            config = TemporalConfig(**overrides)
        elif overrides:
            raise TypeError("pass either a TemporalConfig or keyword overrides, not both")
        if config.person_baseline not in PERSON_BASELINES:
            raise ValueError(
                f"person_baseline must be one of {', '.join(PERSON_BASELINES)}; "
                f"got {config.person_baseline!r}"
            )
        if config.feature_dim is None:
            raise ConfigError("model.feature_dim is unset: give the size of the frame features")
        self.config = config
        self.proj = nn.Linear(config.feature_dim, config.d_model)
        if config.person_baseline == "token":
            # Marks the baseline token apart from the frames (it has no position in time).
            self.baseline_embed = nn.Parameter(torch.zeros(config.d_model))
        layer = nn.TransformerEncoderLayer(
            d_model=config.d_model,
            nhead=config.num_heads,
            dim_feedforward=config.dim_feedforward,
            dropout=config.dropout,
            batch_first=True,
        )
        # Nested tensors change padded outputs between train/eval; keep plain dense behaviour.
        self.encoder = nn.TransformerEncoder(
            layer, num_layers=config.num_layers, enable_nested_tensor=False
        )
        self.head = nn.Linear(config.d_model, config.num_classes)

    def forward(
        self,
        features: Tensor,
        present: Tensor | None = None,
        positions: Tensor | None = None,
    ) -> TemporalOutput:
        """Run the encoder.

        Args:
            features: ``(B, T, D)`` frame features (any float dtype).
            present: ``(B, T)`` bool, True for frames the model may see (kept by frame skipping and
                not padding). Default: all present.
            positions: ``(B, T)`` original frame offsets within the clip. Default ``0..T-1``.
        """
        b, t, _ = features.shape
        if present is None:
            present = torch.ones(b, t, dtype=torch.bool, device=features.device)
        if positions is None:
            positions = torch.arange(t, device=features.device).expand(b, t)
        dtype = self.proj.weight.dtype
        features = features.to(dtype)
        mode = self.config.person_baseline
        if mode != "none":
            baseline = person_baseline(features, present).to(dtype)  # (B, D)
        if mode == "subtract":
            features = features - baseline[:, None]  # F_p − b
        x = self.proj(features)  # (B, T, D) -> (B, T, d_model)
        x = x + sinusoidal_encoding(positions, self.config.d_model, self.config.max_period).to(
            x.dtype
        )
        # A row with no present frame would make attention NaN; let it attend (its outputs are
        # excluded from every mean and loss anyway).
        padding = ~present & present.any(dim=1, keepdim=True)
        if mode == "token":  # [W b + e; W F_p + pos_p]: the token is always present
            token = self.proj(baseline) + self.baseline_embed  # (B, d_model)
            x = torch.cat([token[:, None], x], dim=1)
            padding = torch.cat([torch.zeros_like(padding[:, :1]), padding], dim=1)
        hidden = self.encoder(x, src_key_padding_mask=padding)  # Eq. (7)
        if mode == "token":
            hidden = hidden[:, 1:]  # the token has no output of its own
        logits = self.head(hidden)  # (B, T, K)
        probs = logits.float().softmax(dim=-1)  # Eq. (8)
        return TemporalOutput(logits, probs, masked_clip_mean(probs, present))
