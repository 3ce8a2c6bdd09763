"""Alignment: 5 landmarks warped onto a 5-point template by a similarity transform.

Two framings (``TEMPLATES``): ``"arcface"``, the standard template of aligned face crops (``vnaw
faces``, Aff-Wild2's ``cropped_aligned``), and ``"ferplus"``, where FERPlus's own images put a face
(design §4). Symbols → names: the 5 template points → ``TEMPLATE_112``; the similarity transform →
``umeyama`` (Umeyama 1991)."""

from __future__ import annotations

import numpy as np

from vnaw.faces.types import Face, FaceConfig
from vnaw.models.meta import FRAMINGS

# ArcFace's 5-point template in a 112×112 crop: image-left eye, image-right eye, nose tip,
# image-left and image-right mouth corner. The de-facto standard for aligned face crops.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
     [70.7299, 92.2041]], dtype=np.float64,
)  # fmt: skip
# Where FERPlus's 48 px images put the 5 points, in a unit square: the mean over the 2,666 of 4,000
# training images (seeded sample) in which MediaPipe finds a face, mirror-symmetrised
# (benchmarks/framing.py). Faces sit 8 % of the side higher and 4 % larger than in the ArcFace crop;
# muxspace's stored images are framed the same way. An encoder trained on such images is fed
# crops framed like them (EncoderMeta.framing).
FERPLUS_UNIT = np.array(
    [[0.3254, 0.3910], [0.6746, 0.3910], [0.5000, 0.6209], [0.3561, 0.7536], [0.6439, 0.7536]],
    dtype=np.float64,
)  # fmt: skip
TEMPLATES = dict(zip(FRAMINGS, (TEMPLATE_112 / 112.0, FERPLUS_UNIT), strict=True))


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


def template(size: int, framing: str = "arcface") -> np.ndarray:
    """The 5-point template of ``framing`` (a key of ``TEMPLATES``) for a ``size``-pixel square."""
    return TEMPLATES[framing] * size


def align(rgb: np.ndarray, points: np.ndarray, size: int, framing: str = "arcface") -> np.ndarray:
    """The ``size × size`` aligned crop: ``points`` warped onto the ``framing`` template (design §4)."""
    import cv2

    m = umeyama(points, template(size, framing))
    return cv2.warpAffine(
        rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def with_crops(rgb: np.ndarray, faces: list[Face], config: FaceConfig) -> list[Face]:
    """``faces`` with their aligned ``config.crop_size`` crops of ``rgb`` (design §4)."""
    for face in faces:
        face.crop = align(rgb, face.points, config.crop_size, config.framing)
    return faces
