"""Clip augmentations of V-NAW — paper §3.2–3.4, eqs. 3–5; design §7.1.

* **Frame skipping** (3): per clip draw ``λ ~ U(low, high)`` and keep each frame independently with
  probability ``1 − λ`` (at least one frame is always kept). The result is a keep mask ``M``; the
  temporal encoder masks dropped frames out (see :class:`vnaw.models.temporal.TemporalEncoder`), which is
  the same as removing them from the sequence, because positions are the frames' original offsets.
* **In-frame erasing** (4)–(5): one set Ω of exactly ``round(ratio·H·W)`` pixel positions per clip,
  zeroed (all channels) in every frame — the same Ω for all frames of the clip.

Symbols → names: ``M_i^p`` → ``keep``; ``λ`` → ``drop_rate``; ``Ω_i`` → ``erased`` (bool ``(H, W)``
mask); ``𝟙_Ω`` → ``~erased``.

Every random function takes a ``torch.Generator`` so runs repeat; draws happen on the generator's
device (CPU by default) and results are moved to the data's device.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

EraseMode = Literal["pixels", "rectangle", "cutout"]
SkipMode = Literal["drop", "zero"]


def frame_skip(
    num_frames: int,
    low: float = 0.2,
    high: float = 0.4,
    generator: torch.Generator | None = None,
    *,
    batch_size: int | None = None,
) -> Tensor:
    """Keep mask of frame skipping, eq. 3.

    Args:
        num_frames: frames per clip ``P``.
        low: lower end of the per-clip drop rate ``λ ~ U(low, high)``.
        high: upper end of that range.
        generator: random source.
        batch_size: if given, draw ``batch_size`` independent clips at once.

    Returns:
        Bool tensor ``(P,)`` — or ``(B, P)`` — True where the frame is kept; never all False.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got low={low}, high={high}")
    b = 1 if batch_size is None else batch_size
    drop_rate = low + (high - low) * torch.rand(b, 1, generator=generator)  # λ per clip
    u = torch.rand(b, num_frames, generator=generator)  # (B, P) uniform
    keep = u >= drop_rate  # M ~ Bernoulli(1 − λ), Eq. (3)
    # Deviation: the paper's Bernoulli draw can drop every frame; an empty clip has no prediction
    # and no loss, so where a clip lost all, one frame chosen uniformly is restored.
    rescue = torch.randint(num_frames, (b,), generator=generator)
    empty = ~keep.any(dim=1)
    keep[empty, rescue[empty]] = True
    return keep[0] if batch_size is None else keep


def apply_frame_skip(
    features: Tensor, keep: Tensor, mode: SkipMode = "drop"
) -> tuple[Tensor, Tensor]:
    """Apply a keep mask ``(B, T)`` to a clip batch ``(B, T, ...)``; returns ``(features, present)``.

    ``"drop"`` (default, design §7.1; eq. 3): the frames leave the sequence —
    ``present = keep`` masks them out of attention, the clip mean and the loss. ``"zero"``: the
    reading of eq. 5 where ``M·x`` zeroes a dropped frame in place; it stays in the sequence
    (``present`` all True) and its label still counts.
    """
    if keep.shape != features.shape[:2]:
        raise ValueError(
            f"keep mask {tuple(keep.shape)} does not match clips {tuple(features.shape[:2])}"
        )
    if mode == "drop":
        return features, keep
    if mode == "zero":
        shape = keep.shape + (1,) * (features.ndim - 2)
        zeroed = features * keep.view(shape).to(features.dtype)  # M·x: eq. 5 read in place
        return zeroed, torch.ones_like(keep)
    raise ValueError(f"unknown frame-skip mode {mode!r}; expected 'drop' or 'zero'")


def erase_mask(
    height: int,
    width: int,
    ratio: float = 0.2,
    mode: EraseMode = "pixels",
    generator: torch.Generator | None = None,
    *,
    num_masks: int = 1,
) -> Tensor:
    """Draw ``num_masks`` erase masks ``Ω`` as bool ``(num_masks, H, W)``, True = erased.

    ``"pixels"``: exactly ``round(ratio·H·W)`` positions uniformly at random, eq. 4.
    ``"rectangle"`` / ``"cutout"``: one axis-aligned rectangle of about that area (aspect ratio
    log-uniform in [1/2, 2]) at a uniform position.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"erase ratio must lie in [0, 1], got {ratio}")
    area = round(ratio * height * width)  # |Ω| = ratio·|x|, Eq. (4)
    if mode == "pixels":
        # The `area` smallest of H·W uniform keys form a uniform random subset of that size.
        keys = torch.rand(num_masks, height * width, generator=generator)
        chosen = keys.topk(area, dim=1, largest=False).indices
        erased = torch.zeros(num_masks, height * width, dtype=torch.bool)
        erased.scatter_(1, chosen, True)
        return erased.view(num_masks, height, width)  # Ω, (num_masks, H, W)
    if mode in ("rectangle", "cutout"):
        log_aspect = (torch.rand(num_masks, generator=generator) * 2 - 1) * math.log(2.0)
        h = (area * log_aspect.exp()).sqrt().round().clamp(1, height).long()
        w = (area / h).round().clamp(1, width).long()
        if area == 0:
            h, w = torch.zeros_like(h), torch.zeros_like(w)
        top = (torch.rand(num_masks, generator=generator) * (height - h + 1)).long()
        left = (torch.rand(num_masks, generator=generator) * (width - w + 1)).long()
        rows = torch.arange(height)[None, :, None]
        cols = torch.arange(width)[None, None, :]
        in_rows = (rows >= top[:, None, None]) & (rows < (top + h)[:, None, None])
        in_cols = (cols >= left[:, None, None]) & (cols < (left + w)[:, None, None])
        return in_rows & in_cols
    raise ValueError(f"unknown erase mode {mode!r}; expected 'pixels', 'rectangle' or 'cutout'")


def in_frame_erase(
    clip: Tensor,
    ratio: float = 0.2,
    mode: EraseMode = "pixels",
    generator: torch.Generator | None = None,
) -> Tensor:
    """In-frame erasing, eqs. 4 and 5: a copy of ``clip`` with the erased pixels set to 0.

    Args:
        clip: ``(T, C, H, W)`` frames of one clip, or ``(B, T, C, H, W)`` for a batch of clips.
        ratio: fraction of the ``H·W`` pixel positions to erase (0.2 in the paper).
        mode: ``"pixels"`` — the paper's Ω of exactly ``round(ratio·H·W)`` scattered positions, the
            same in every frame of a clip; ``"rectangle"`` — one rectangle of that area, the same in
            every frame; ``"cutout"`` — an independent rectangle per frame (the authors' released
            code).
        generator: random source.

    All channels of an erased position are zeroed. Dropped frames (frame skipping) need no special
    case: they are masked out downstream.
    """
    if clip.ndim not in (4, 5):
        raise ValueError(f"clip must be (T, C, H, W) or (B, T, C, H, W), got {tuple(clip.shape)}")
    batched = clip if clip.ndim == 5 else clip.unsqueeze(0)
    b, t, _, h, w = batched.shape
    if mode == "cutout":
        erased = erase_mask(h, w, ratio, mode, generator, num_masks=b * t).view(b, t, 1, h, w)
    else:
        erased = erase_mask(h, w, ratio, mode, generator, num_masks=b).view(b, 1, 1, h, w)
    out = batched.masked_fill(erased.to(clip.device), 0)  # x ⊙ 𝟙_Ω, Eq. (5)
    return out if clip.ndim == 5 else out.squeeze(0)
