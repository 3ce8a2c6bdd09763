"""One preprocessing path from a uint8 face crop to the image encoder's input.

Pretraining, feature extraction, ``vnaw predict``, end-to-end training and
:meth:`ImageClassifier.predict_proba` all go through :func:`crop_to_input_size` then
:func:`to_input`, so the features a temporal model is trained on and the features it is served are
computed the same way:

1. :func:`crop_to_input_size` — one crop (``H×W`` grey or ``H×W×3`` RGB, any size) → uint8
   ``(C, S, S)``: converted to the encoder's channels (BT.601 luma, as PIL's ``"L"``; grey crops
   are replicated for RGB encoders) and resized with PIL's antialiased bilinear filter. Only C code
   runs per crop, so it is cheap in DataLoader workers and next to the encoder's threads.
2. :func:`to_input` — a uint8 batch ``(N, C, S, S)`` → float, scaled to [0, 1], normalised with the
   encoder's mean and std (skipped with ``normalized=False``: in-frame erasing zeroes pixels of
   ``x`` in [0, 1] first, eq. 5, then :func:`normalize` runs).

:func:`preprocess_array` does both steps in numpy, in the same float32 operations: the torch-free
prediction path (ONNX Runtime) and :func:`preprocess` share it, so they feed identical inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vnaw.errors import DataError

if TYPE_CHECKING:
    from torch import Tensor

    from vnaw.models.meta import EncoderMeta


def crop_to_input_size(img: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 ``H×W`` / ``H×W×1`` / ``H×W×3`` crop → uint8 ``(channels, size, size)``."""
    from PIL import Image

    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError(f"a face crop must be uint8, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"a face crop must be H×W or H×W×3, got shape {img.shape}")
    pil = Image.fromarray(img)
    return _pil_to_array(pil, size, channels)


def _pil_to_array(pil, size: int, channels: int) -> np.ndarray:
    from PIL import Image

    pil = pil.convert("L" if channels == 1 else "RGB")
    if pil.size != (size, size):
        pil = pil.resize((size, size), Image.BILINEAR)  # antialiased when shrinking
    arr = np.asarray(pil)
    # (H, W[, C]) -> (C, H, W), contiguous in numpy: a strided copy in torch would wake its
    # thread pool for every crop.
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return np.array(arr, order="C")


def load_crop(path: str | Path, size: int, channels: int) -> np.ndarray:
    """A crop file decoded and passed through :func:`crop_to_input_size`; errors name the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as pil:
            return _pil_to_array(pil, size, channels)
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(path, f"cannot read the image ({err})") from None


def normalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """``(N, C, H, W)`` in [0, 1] → ``(x − mean) / std`` per channel."""
    import torch

    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def to_input(batch: Tensor | np.ndarray, meta: EncoderMeta, *, normalized: bool = True) -> Tensor:
    """uint8 ``(N, C, S, S)`` → float ``(N, C, S, S)`` in [0, 1], normalised unless told not to."""
    import torch

    x = torch.as_tensor(batch).float().div_(255.0)
    return normalize(x, meta.mean, meta.std) if normalized else x


def preprocess_array(images: Sequence[np.ndarray] | np.ndarray, meta: EncoderMeta) -> np.ndarray:
    """uint8 crops (any size, grey or RGB) → the encoder's normalised float32 input
    ``(N, C, S, S)`` as a numpy array (what :func:`to_input` computes, in the same operations)."""
    s, c = meta.input_size, meta.channels
    if len(images) == 0:
        return np.zeros((0, c, s, s), np.float32)
    x = np.stack([crop_to_input_size(img, s, c) for img in images]).astype(np.float32)
    x /= np.float32(255.0)
    m = np.asarray(meta.mean, np.float32).reshape(1, -1, 1, 1)
    sd = np.asarray(meta.std, np.float32).reshape(1, -1, 1, 1)
    return (x - m) / sd


def preprocess(images: Sequence[np.ndarray] | np.ndarray, meta: EncoderMeta) -> Tensor:
    """uint8 crops (any size, grey or RGB) → the encoder's normalised input ``(N, C, S, S)``."""
    import torch

    return torch.from_numpy(preprocess_array(images, meta))


def apply_logit_bias(probs: np.ndarray, bias: Sequence[float] | None) -> np.ndarray:
    """``(N, K)`` probabilities with per-class log offsets ``bias`` added (``p_k·e^{b_k}``,
    renormalised): the decision offsets shipped beside an encoder (:func:`vnaw.models.meta.
    read_logit_bias`); ``None`` leaves them as they are."""
    if bias is None:
        return probs
    adjusted = np.asarray(probs) * np.exp(np.asarray(bias, dtype=np.float64))
    return (adjusted / adjusted.sum(axis=-1, keepdims=True)).astype(np.asarray(probs).dtype)
