"""Alignment: 5 landmarks warped onto the standard 5-point template by a similarity transform.

Symbols → names: the 5 template points → ``TEMPLATE_112``; the similarity transform → ``umeyama``
(Umeyama 1991)."""

from __future__ import annotations

import numpy as np

# ArcFace's 5-point template in a 112×112 crop: image-left eye, image-right eye, nose tip,
# image-left and image-right mouth corner. The de-facto standard for aligned face crops.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
     [70.7299, 92.2041]], dtype=np.float64,
)  # fmt: skip


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, shift) mapping ``src`` → ``dst``.

    Umeyama (1991); returns the 2×3 matrix ``M`` with ``dst ≈ M @ [src; 1]``.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0  # no reflections
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / s0.var(0).sum()
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


def template(size: int, scale: float = 1.0) -> np.ndarray:
    """The 5-point template for a ``size``-pixel square crop, shrunk by ``scale`` about the centre."""
    return ((TEMPLATE_112 / 112.0 - 0.5) * scale + 0.5) * size


def align(rgb: np.ndarray, points: np.ndarray, size: int, scale: float = 1.0) -> np.ndarray:
    """The ``size × size`` aligned crop: ``points`` warped onto the template (design §4)."""
    import cv2

    m = umeyama(points, template(size, scale))
    return cv2.warpAffine(
        rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
