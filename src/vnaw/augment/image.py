"""Augmentation of single face images for pretraining (on the batch, on the training device).

Random flip, rotation, scale and shift (:func:`random_affine`) and random erasing of one rectangle
(:func:`random_erase`, as NLA's reference training uses). Video augmentations are in
:mod:`vnaw.augment.video`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def random_affine(
    x: Tensor,
    generator: torch.Generator | None = None,
    *,
    hflip: bool = True,
    max_rotate: float = 10.0,
    scale: tuple[float, float] = (0.9, 1.1),
    max_shift: float = 0.1,
) -> Tensor:
    """Random flip, rotation, scale and shift per image of ``(N, C, H, W)``; zeros fill the border
    (the normalised mean grey)."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    angle = uniform(-max_rotate, max_rotate) * math.pi / 180.0
    inv_scale = 1.0 / uniform(*scale)
    flip = (
        torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if hflip else torch.ones(n)
    )
    cos, sin = torch.cos(angle) * inv_scale, torch.sin(angle) * inv_scale
    # theta maps output to input coordinates in [-1, 1]; flip mirrors the input x axis.
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, uniform(-2 * max_shift, 2 * max_shift)], dim=1),
            torch.stack([sin * flip, cos, uniform(-2 * max_shift, 2 * max_shift)], dim=1),
        ],
        dim=1,
    ).to(x)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_erase(
    x: Tensor,
    prob: float,
    generator: torch.Generator | None = None,
    area: tuple[float, float] = (0.02, 0.25),
    ratio: tuple[float, float] = (0.3, 3.3),
) -> Tensor:
    """Random erasing: with probability ``prob`` one rectangle per image set to N(0, 1) noise."""
    n, _, h, w = x.shape
    x = x.clone()
    for i in torch.nonzero(torch.rand(n, generator=generator) < prob).flatten().tolist():
        a = h * w * (area[0] + (area[1] - area[0]) * torch.rand(1, generator=generator).item())
        log_r = (
            math.log(ratio[0])
            + (math.log(ratio[1]) - math.log(ratio[0])) * torch.rand(1, generator=generator).item()
        )
        eh = min(h, max(1, round(math.sqrt(a * math.exp(log_r)))))
        ew = min(w, max(1, round(math.sqrt(a / math.exp(log_r)))))
        top = int(torch.randint(0, h - eh + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - ew + 1, (1,), generator=generator))
        noise = torch.randn(x.shape[1], eh, ew, generator=generator).to(x)
        x[i, :, top : top + eh, left : left + ew] = noise
    return x
