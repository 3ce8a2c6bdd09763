"""Photometric and image-quality augmentations for encoder pretraining (real-video image quality).

Face crops from real video differ from curated stills in exposure, focus, resolution and
compression; these augmentations draw such variation per image. They act on uint8-range batches
scaled to ``[0, 1]``, before normalisation (see :func:`photometric`), and are off unless set
in ``aug.*`` of ``vnaw pretrain``.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def _chosen(n: int, prob: float, generator: torch.Generator | None) -> list[int]:
    return torch.nonzero(torch.rand(n, generator=generator) < prob).flatten().tolist()


def random_gamma(x: Tensor, prob: float, max_gamma: float, generator=None) -> Tensor:
    """``x ** γ`` with ``log γ ~ U(−log g, log g)`` for a ``prob`` share of images (exposure)."""
    x = x.clone()
    for i in _chosen(len(x), prob, generator):
        g = math.exp((2 * torch.rand(1, generator=generator).item() - 1) * math.log(max_gamma))
        x[i] = x[i].clamp_min(1e-6) ** g
    return x


def random_blur(x: Tensor, prob: float, max_sigma: float, generator=None) -> Tensor:
    """Gaussian blur with ``σ ~ U(0.3, max_sigma)`` pixels (defocus, motion at small scale)."""
    x = x.clone()
    c = x.shape[1]
    for i in _chosen(len(x), prob, generator):
        sigma = 0.3 + (max_sigma - 0.3) * torch.rand(1, generator=generator).item()
        r = max(1, math.ceil(2.5 * sigma))
        t = torch.arange(-r, r + 1, dtype=x.dtype)
        k = torch.exp(-(t**2) / (2 * sigma**2))
        k = (k / k.sum()).to(x)
        y = F.pad(x[i : i + 1], (r, r, r, r), mode="replicate")
        y = F.conv2d(y, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        x[i] = F.conv2d(y, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)[0]
    return x


def random_downscale(x: Tensor, prob: float, min_scale: float, generator=None) -> Tensor:
    """Down- then up-sampling by ``s ~ U(min_scale, 1)`` (small faces in wide video frames)."""
    x = x.clone()
    size = x.shape[-2:]
    for i in _chosen(len(x), prob, generator):
        s = min_scale + (1 - min_scale) * torch.rand(1, generator=generator).item()
        small = [max(4, round(d * s)) for d in size]
        y = F.interpolate(x[i : i + 1], size=small, mode="bilinear", antialias=True)
        x[i] = F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=False)[0]
    return x


def random_jpeg(x: Tensor, prob: float, min_quality: int, generator=None) -> Tensor:
    """JPEG round trip at quality ``~ U(min_quality, 95)`` (video and web compression)."""
    from PIL import Image

    x = x.clone()
    for i in _chosen(len(x), prob, generator):
        q = int(min_quality + (95 - min_quality) * torch.rand(1, generator=generator).item())
        a = (x[i].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        im = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=q)
        buf.seek(0)
        b = np.asarray(Image.open(buf), dtype=np.uint8)
        b = b[:, :, None] if b.ndim == 2 else b
        x[i] = torch.from_numpy(b.copy()).permute(2, 0, 1).to(x) / 255.0
    return x


def photometric(x: Tensor, aug, generator: torch.Generator | None = None) -> Tensor:
    """Apply the enabled augmentations of ``aug`` (an ``AugConfig``) to ``(N, C, H, W)`` in [0, 1]."""
    if aug.gamma_prob > 0:
        x = random_gamma(x, aug.gamma_prob, aug.max_gamma, generator)
    if aug.downscale_prob > 0:
        x = random_downscale(x, aug.downscale_prob, aug.min_downscale, generator)
    if aug.blur_prob > 0:
        x = random_blur(x, aug.blur_prob, aug.max_blur_sigma, generator)
    if aug.jpeg_prob > 0:
        x = random_jpeg(x, aug.jpeg_prob, aug.min_jpeg_quality, generator)
    return x


def enabled(aug) -> bool:
    return any(p > 0 for p in (aug.gamma_prob, aug.downscale_prob, aug.blur_prob, aug.jpeg_prob))
