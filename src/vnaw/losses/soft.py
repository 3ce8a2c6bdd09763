"""FERPlus vote distributions as soft training targets ("probability" targets of the FERPlus paper,
Barsoum et al. 2016), with NLA on them.

``loss.soft=true`` in ``vnaw pretrain``: every training image gets a target distribution over the
8 classes of design §2 — its FERPlus votes (counts of 1 dropped, as in the majority protocol, then
normalised), or the one-hot of its label where a set has no votes (muxspace, RAF-DB, …). The
classification term becomes the soft cross-entropy ``−Σ_k q_k log p_k``; with NLA, each image's term
is weighted by ``1 + w*`` as in eq. 12, ``w*`` computed on the majority label as before, and the
flip-consistency JSD is unchanged.

``loss.teacher=[ENCODER, ...]`` adds distillation (Hinton et al. 2015): each target is mixed with
the probabilities a teacher ensemble gives the un-augmented training image (each teacher's softmax
averaged with its mirror's, then over the teachers), ``q = (1 − β)·q_label + β·p_teacher`` with
``β = loss.teacher_weight``. Several encoders are thereby folded into the one that ships.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vnaw.losses.naw import NAW_DEFAULTS, NAWParams, _at_least_fp32, js_divergence, naw_weight


def vote_targets(votes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(N, 8)`` vote counts (NaN rows where unknown) and ``(N,)`` labels → target distributions.

    Single votes are dropped (the majority protocol's outlier rule); rows left without votes fall
    back to the one-hot of the label.
    """
    votes = np.asarray(votes, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    onehot = np.eye(votes.shape[1])[labels]
    cleaned = np.where(np.isnan(votes) | (votes <= 1), 0.0, votes)
    total = cleaned.sum(1, keepdims=True)
    dist = np.where(total > 0, cleaned / np.maximum(total, 1e-12), onehot)
    return dist.astype(np.float32)


def distill_targets(targets: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """``(1 − weight)·targets + weight·teacher``, both ``(N, 8)`` distributions."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"teacher weight must be in [0, 1], got {weight}")
    if targets.shape != teacher.shape:
        raise ValueError(f"targets {targets.shape} and teacher {teacher.shape} differ in shape")
    return ((1.0 - weight) * targets + weight * teacher).astype(np.float32)


def soft_cross_entropy(log_probs: Tensor, target: Tensor) -> Tensor:
    """Per-sample ``−Σ_k q_k log p_k``, ``(N,)``."""
    return -(target.to(log_probs.dtype) * log_probs).sum(1)


def soft_nla_loss(
    logits: Tensor,
    flipped_logits: Tensor | None,
    labels: Tensor,
    target: Tensor,
    epsilon: float = 1.0,
    *,
    lam: float = 0.5,
    naw: bool = True,
    normalize: bool = True,
    detach: bool = False,
    params: NAWParams = NAW_DEFAULTS,
) -> tuple[Tensor, Tensor]:
    """``λ·mean((1 + w*)·softCE) + (1 − λ)·JSD(image, flip)``; plain mean soft CE when
    ``flipped_logits`` is ``None`` (the CE loss kind). Returns ``(loss, weights)``."""
    log_probs = F.log_softmax(_at_least_fp32(logits), dim=1)
    ce = soft_cross_entropy(log_probs, target)
    if flipped_logits is None:
        return ce.mean(), logits.new_zeros(0)
    weights = logits.new_zeros(0)
    if naw:
        weights = naw_weight(log_probs.exp(), labels, epsilon, normalize, params=params)
        ce = (1.0 + (weights.detach() if detach else weights)) * ce
    jsd = js_divergence(log_probs.exp(), F.softmax(_at_least_fp32(flipped_logits), dim=1)).mean()
    return lam * ce.mean() + (1.0 - lam) * jsd, weights


def as_tensor(targets: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
