"""Noise-aware Adaptive Weighting (NAW) and the NLA loss — paper §3.7, eqs. 10–12; design §5.

NAW gives each sample a weight from where its prediction sits in the plane
``x = (p_GT, p_NN)`` (probability of the labelled class, largest other probability), using one of two
2-D Gaussians: the *true* one when the prediction is right, the *false* one when it is wrong.
Near-misses get the largest weights; confidently wrong samples (likely wrong labels) almost none.

Symbols → names:

=========================  ==========================================
paper / design             code
=========================  ==========================================
``p_i`` (softmax)          ``probs``
``y_i``                    ``targets``
``x = (p_GT, p_NN)``       ``p_gt``, ``p_nn``
``μ_T, Σ_T`` / ``μ_F, Σ_F``  ``NAWParams.mu_true`` … ``sigma_false``
``ε`` (epoch schedule)     ``epsilon`` (:func:`naw_epsilon`)
``C = 1/(2π√|Σ|)``         ``normalize=True``
``w*`` (11)                :func:`naw_weight`
``L_CE`` (10)              :func:`weighted_cross_entropy` with ``weights=None``
``L_NAW-CE`` (12)          :func:`weighted_cross_entropy` with NAW weights
``L_JSD``                  :func:`js_divergence`
``λ`` (NLA mix, 0.5)       ``lam`` in :func:`nla_loss`
=========================  ==========================================

All functions are vectorised over the batch, device-agnostic, and compute in at least float32 (a
bf16/fp16 input is upcast, so the weights do not lose the small values that matter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from vnaw.labels import IGNORE_INDEX


@dataclass(frozen=True)
class NAWParams:
    """NLA's published Gaussian settings (design §5). ``cov_true`` is scaled by ε."""

    mu_true: tuple[float, float] = (0.5, 0.5)
    var_true: float = 0.80
    cov_true: float = -0.48  # off-diagonal of Σ_T at ε = 1; Σ_T[0,1] = cov_true · ε
    mu_false: tuple[float, float] = (0.30, 0.15)
    var_false: float = 0.8511
    cov_false: float = 0.8051
    epsilon_rate: float = 15.0  # ε = 1 − exp(−rate · e / E)


NAW_DEFAULTS = NAWParams()


def _at_least_fp32(x: Tensor) -> Tensor:
    """Half-precision logits (mixed precision) are upcast; float64 stays float64 (gradcheck)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def naw_epsilon(epoch: int, num_epochs: int, rate: float = NAW_DEFAULTS.epsilon_rate) -> float:
    """ε schedule of NLA (design §5): ``ε = 1 − exp(−rate·e/E)`` for epoch ``e = 0 … E−1``."""
    if num_epochs <= 0:
        raise ValueError(f"num_epochs must be positive, got {num_epochs}")
    return 1.0 - math.exp(-rate * epoch / num_epochs)


def _gaussian_2d(dx: Tensor, dy: Tensor, var: float, cov: float, normalize: bool) -> Tensor:
    """Density of a 2-D Gaussian with Σ = [[var, cov], [cov, var]] at offset (dx, dy)."""
    det = var * var - cov * cov
    # Closed-form inverse of the symmetric 2×2 Σ: no matrix ops, no N×N anything.
    mahalanobis = (var * dx * dx - 2.0 * cov * dx * dy + var * dy * dy) / det
    density = torch.exp(-0.5 * mahalanobis)
    if normalize:
        density = density / (2.0 * math.pi * math.sqrt(det))
    return density


def naw_point(probs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Return ``(p_GT, p_NN, correct)`` for probabilities ``(N, K)`` and integer targets ``(N,)``."""
    targets = targets.long()
    p_gt = probs.gather(1, targets[:, None]).squeeze(1)
    others = probs.masked_fill(F.one_hot(targets, probs.shape[1]).bool(), float("-inf"))
    p_nn = others.max(dim=1).values
    correct = probs.argmax(dim=1) == targets
    return p_gt, p_nn, correct


def naw_weight(
    probs: Tensor,
    targets: Tensor,
    epsilon: float = 1.0,
    normalize: bool = True,
    *,
    params: NAWParams = NAW_DEFAULTS,
) -> Tensor:
    """Per-sample NAW weight ``w*`` of eq. 11.

    Args:
        probs: ``(N, K)`` class probabilities, rows summing to 1.
        targets: ``(N,)`` integer labels in ``0..K-1`` (filter out ``-1`` before calling).
        epsilon: ε of the schedule (:func:`naw_epsilon`); 0 makes Σ_T diagonal.
        normalize: multiply by ``C = 1/(2π√|Σ|)`` as in eq. 11.
        params: the Gaussian constants (NLA's by default).

    Returns:
        ``(N,)`` weights, differentiable w.r.t. ``probs``, in float32 or wider.
    """
    if probs.ndim != 2 or targets.shape != probs.shape[:1]:
        raise ValueError(
            f"naw_weight expects probs (N, K) and targets (N,), got {tuple(probs.shape)} "
            f"and {tuple(targets.shape)}"
        )
    probs = probs.to(torch.promote_types(probs.dtype, torch.float32))
    p_gt, p_nn, correct = naw_point(probs, targets)
    w_true = _gaussian_2d(
        p_gt - params.mu_true[0],
        p_nn - params.mu_true[1],
        params.var_true,
        params.cov_true * epsilon,
        normalize,
    )
    w_false = _gaussian_2d(
        p_gt - params.mu_false[0],
        p_nn - params.mu_false[1],
        params.var_false,
        params.cov_false,
        normalize,
    )
    return torch.where(correct, w_true, w_false)  # Eq. (11)


def weighted_cross_entropy(
    log_probs: Tensor, targets: Tensor, weights: Tensor | None = None
) -> Tensor:
    """Mean of ``(1 + w_i)·CE_i`` over samples with a valid target — eq. 12; eq. 10 if no weights.

    Args:
        log_probs: ``(N, K)`` log-probabilities.
        targets: ``(N,)`` labels; ``-1`` entries are ignored (they add nothing, not even to N).
        weights: ``(N,)`` NAW weights, or ``None`` for plain cross-entropy.

    Returns a scalar; 0 (still attached to the graph) when no sample is valid.
    """
    valid = targets != IGNORE_INDEX
    ce = -log_probs.gather(1, targets.clamp_min(0).long()[:, None]).squeeze(1)  # Eq. (10)
    if weights is not None:
        ce = (1.0 + weights) * ce  # Eq. (12)
    ce = torch.where(valid, ce, torch.zeros_like(ce))
    return ce.sum() / valid.sum().clamp_min(1)


def naw_cross_entropy(
    log_probs: Tensor,
    targets: Tensor,
    epsilon: float = 1.0,
    *,
    normalize: bool = True,
    detach: bool = False,
    params: NAWParams = NAW_DEFAULTS,
) -> tuple[Tensor, Tensor]:
    """NAW-weighted cross-entropy, eq. 12, on log-probabilities; ``-1`` targets ignored.

    Returns ``(loss, weights)`` where ``weights`` holds ``w*`` of the valid samples only.
    ``detach=True`` stops gradients through the weight (the NLA reference does not detach).
    """
    log_probs = log_probs.to(torch.promote_types(log_probs.dtype, torch.float32))
    valid = targets != IGNORE_INDEX
    log_probs, targets = log_probs[valid], targets[valid]
    weights = naw_weight(log_probs.exp(), targets, epsilon, normalize, params=params)
    used = weights.detach() if detach else weights
    return weighted_cross_entropy(log_probs, targets, used), weights


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Jensen–Shannon divergence between rows of two ``(N, K)`` distributions (natural log).

    ``JSD = ½ KL(p‖m) + ½ KL(q‖m)`` with ``m = (p + q)/2``; returns ``(N,)``.
    """
    dtype = torch.promote_types(p.dtype, torch.float32)
    p, q = p.to(dtype), q.to(dtype)
    m = 0.5 * (p + q)
    # xlogy gives 0·log 0 = 0, so one-hot-like rows stay finite.
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, m)).sum(dim=1)
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, m)).sum(dim=1)
    return 0.5 * (kl_pm + kl_qm)


def nla_loss(
    logits: Tensor,
    flipped_logits: Tensor,
    targets: Tensor,
    epsilon: float = 1.0,
    *,
    lam: float = 0.5,
    naw: bool = True,
    normalize: bool = True,
    detach: bool = False,
    params: NAWParams = NAW_DEFAULTS,
) -> tuple[Tensor, Tensor]:
    """NLA total loss ``L = λ·L_NAW + (1−λ)·L_JSD`` (design §5).

    ``L_NAW`` (eq. 12) is taken on the original images' predictions; ``L_JSD`` is the mean
    Jensen–Shannon divergence between the predictions for each image and its horizontal flip.
    ``naw=False`` replaces ``L_NAW`` by plain cross-entropy (eq. 10). Returns ``(loss, weights)``.
    """
    log_probs = F.log_softmax(_at_least_fp32(logits), dim=1)
    if naw:
        cls_loss, weights = naw_cross_entropy(
            log_probs, targets, epsilon, normalize=normalize, detach=detach, params=params
        )
    else:
        cls_loss, weights = weighted_cross_entropy(log_probs, targets), logits.new_zeros(0)
    jsd = js_divergence(log_probs.exp(), F.softmax(_at_least_fp32(flipped_logits), dim=1)).mean()
    return lam * cls_loss + (1.0 - lam) * jsd, weights
