"""What the face stage passes around: settings, one face, one decoded frame (design §4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vnaw.errors import ConfigError
from vnaw.models.meta import FRAMINGS


@dataclass(frozen=True)
class FaceConfig:
    """Detection and alignment settings (defaults: design §4, 224 px like Aff-Wild2's crops)."""

    crop_size: int = 224
    # The template faces are warped onto (vnaw.faces.align.TEMPLATES): "arcface", the standard
    # crop (keeps brows and mouth, the expressive parts); `vnaw predict` without a temporal model
    # uses its encoder's framing instead (EncoderMeta.framing).
    framing: str = "arcface"
    max_faces: int = 2  # faces followed per frame
    # Whole-frame detection every this many frames (new faces appear within 1/3 s at 30 fps);
    # in between, faces are followed from their previous box.
    detect_every: int = 10
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5  # FaceMesh's face score in the followed region
    min_track_fraction: float = 0.02  # tracks seen in fewer frames are dropped as spurious
    jpeg_quality: int = 95

    def __post_init__(self) -> None:
        if self.framing not in FRAMINGS:
            raise ConfigError(f"unknown face framing {self.framing!r}; one of {sorted(FRAMINGS)}")


@dataclass
class Face:
    """One face in one frame, pixel coordinates of the full frame."""

    box: np.ndarray  # (4,) x0, y0, x1, y1
    points: np.ndarray  # (5, 2) template order (TEMPLATE_112)
    score: float = float("nan")  # detector score on frames where the detector ran, else NaN
    crop: np.ndarray | None = None  # the aligned crop (design §4), made by the detector's ``many``


@dataclass
class Frame:
    index: int  # 0-based decode order
    time: float  # seconds, from the frame's own timestamp
    rgb: np.ndarray  # (H, W, 3) uint8
