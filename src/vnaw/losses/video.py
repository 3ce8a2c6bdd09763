"""Video-based NAW loss (V-NAW) — paper §3.7, eqs. 9–12; design §7.2.

Two levels:

* ``"clip"`` (the paper as written): the clip label ``y_i`` is the most frequent valid frame label
  in the clip (ties → the tied class seen at the latest frame), the clip probability ``p̄_i`` is the
  mean of the frame probabilities over the valid frames (9), and ``L = mean_i (1 + w_i)·CE_i`` (12)
  with ``w_i`` from ``(p̄_i, y_i)`` (11).
* ``"frame"`` (the authors' released code): the same weight and loss per valid frame, averaged over
  the valid frames of the batch.

A frame is *valid* when it is present (kept by frame skipping, not padding) and its label is not
``-1``; other frames touch neither the loss nor the clip probability. ``naw=False`` gives plain
cross-entropy (10) at the same level. With ``flipped_logits`` the NLA consistency term is added:
``L = λ·L_V-NAW + (1−λ)·JSD``.

Symbols → names: ``y_i`` → ``clip_labels``; ``p̄_i`` → ``clip_probs``; ``w_i`` → ``weights``;
``ε`` → ``epsilon`` (advanced by :meth:`VNAWLoss.set_epoch`).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vnaw.labels import IGNORE_INDEX
from vnaw.losses.naw import (
    NAW_DEFAULTS,
    NAWParams,
    _at_least_fp32,
    js_divergence,
    naw_cross_entropy,
    naw_epsilon,
    weighted_cross_entropy,
)
from vnaw.models.temporal import masked_clip_mean

Level = Literal["clip", "frame"]


def clip_majority_label(labels: Tensor, valid: Tensor, num_classes: int) -> Tensor:
    """Most frequent valid label per clip; ties go to the tied class seen at the latest frame.

    Args:
        labels: ``(B, T)`` frame labels (``-1`` allowed).
        valid: ``(B, T)`` bool, frames that count.

    Returns ``(B,)`` labels, ``-1`` for a clip without any valid frame.
    """
    t = labels.shape[1]
    onehot = F.one_hot(labels.clamp_min(0).long(), num_classes) & valid[..., None]  # (B, T, K)
    counts = onehot.sum(dim=1)  # (B, K)
    frame_no = torch.arange(1, t + 1, device=labels.device)[None, :, None]
    last_seen = (onehot * frame_no).amax(dim=1)  # (B, K), 0 where never seen
    # counts dominate; among equal counts the larger last_seen (≤ T) wins.
    score = counts * (t + 1) + last_seen
    return torch.where(valid.any(dim=1), score.argmax(dim=1), IGNORE_INDEX)


class VNAWOutput(NamedTuple):
    loss: Tensor  # scalar
    weights: Tensor  # (S,) NAW weights of the S samples used (clips or frames); empty if naw=False
    targets: Tensor  # (S,) labels of the samples used
    probs: Tensor  # (S, K) their probabilities: p̄_i (clip level) or p_{i,p} (frame level)


class VNAWLoss(nn.Module):
    """V-NAW loss on the temporal encoder's per-frame logits.

    Args:
        level: ``"clip"`` (paper) or ``"frame"`` (released code).
        naw: weight by NAW (12); False gives plain cross-entropy (10).
        normalize: include ``C`` of eq. 11.
        detach: stop gradients through the NAW weight (the reference does not).
        consistency: λ for the optional flip-consistency term; ``L = λ·L + (1−λ)·JSD``.
        params: NAW Gaussian constants.
    """

    def __init__(
        self,
        level: Level = "clip",
        naw: bool = True,
        *,
        normalize: bool = True,
        detach: bool = False,
        consistency: float = 0.5,
        params: NAWParams = NAW_DEFAULTS,
    ) -> None:
        super().__init__()
        if level not in ("clip", "frame"):
            raise ValueError(f"level must be 'clip' or 'frame', got {level!r}")
        self.level = level
        self.naw = naw
        self.normalize = normalize
        self.detach = detach
        self.consistency = consistency
        self.params = params
        self.epsilon = 1.0

    def set_epoch(self, epoch: int, num_epochs: int) -> None:
        """Advance ε from the epoch index (design §5): ``ε = 1 − exp(−15·e/E)``."""
        self.epsilon = naw_epsilon(epoch, num_epochs, self.params.epsilon_rate)

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        present: Tensor | None = None,
        flipped_logits: Tensor | None = None,
    ) -> VNAWOutput:
        """Loss for per-frame ``logits (B, T, K)``, ``labels (B, T)`` and ``present (B, T)``."""
        num_classes = logits.shape[-1]
        valid = labels != IGNORE_INDEX
        if present is not None:
            valid = valid & present
        probs = F.softmax(_at_least_fp32(logits), dim=-1)  # (B, T, K)

        if self.level == "clip":
            targets = clip_majority_label(labels, valid, num_classes)  # y_i
            sample_probs = masked_clip_mean(probs, valid)  # p̄_i, the clip mean of eq. 9
            # log of a mean of softmaxes; the clamp only guards log(0) in fp32.
            log_probs = sample_probs.clamp_min(torch.finfo(torch.float32).tiny).log()
        else:
            targets = torch.where(valid, labels, IGNORE_INDEX).reshape(-1)
            sample_probs = probs.reshape(-1, num_classes)
            log_probs = F.log_softmax(_at_least_fp32(logits), dim=-1).reshape(-1, num_classes)

        if self.naw:
            loss, weights = naw_cross_entropy(
                log_probs,
                targets,
                self.epsilon,
                normalize=self.normalize,
                detach=self.detach,
                params=self.params,
            )  # eqs. 11–12
        else:
            loss = weighted_cross_entropy(log_probs, targets)  # plain CE, eq. 10
            weights = log_probs.new_zeros(0)

        if flipped_logits is not None:
            flipped = F.softmax(_at_least_fp32(flipped_logits), dim=-1)
            if self.level == "clip":
                flipped = masked_clip_mean(flipped, valid)
            used = targets != IGNORE_INDEX
            jsd = js_divergence(sample_probs[used], flipped.reshape(-1, num_classes)[used])
            loss = self.consistency * loss + (1.0 - self.consistency) * jsd.sum() / max(
                jsd.numel(), 1
            )
        used = targets != IGNORE_INDEX
        return VNAWOutput(loss, weights, targets[used], sample_probs[used])
