"""vnaw — video facial-expression recognition with V-NAW.

Public API (stable): ``CLASSES``, ``NUM_CLASSES``, ``naw_weight``, ``frame_skip``,
``in_frame_erase``, ``macro_f1``, ``TemporalEncoder``, ``VNAWLoss``, ``ImageClassifier``,
``VideoModel``, ``analyze_video`` (a video path → its per-frame table as a pandas DataFrame),
``stream`` (a camera, stream URL or file → its per-frame rows as they are produced). Names are imported on first use, so ``import vnaw`` (and ``vnaw --help``) loads
no deep-learning library until one is needed.

The pipeline, the data formats and every choice the paper leaves open are described in
``docs/design.md`` of the repository; comments and docstrings cite its sections as ``design §n``
and the paper's equations as ``Eq. (n)`` on the line that computes each.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "CLASSES": "vnaw.labels",
    "NUM_CLASSES": "vnaw.labels",
    "frame_skip": "vnaw.augment.video",
    "in_frame_erase": "vnaw.augment.video",
    "naw_weight": "vnaw.losses.naw",
    "VNAWLoss": "vnaw.losses.video",
    "macro_f1": "vnaw.evaluation.metrics",
    "TemporalEncoder": "vnaw.models.temporal",
    "ImageClassifier": "vnaw.models.encoder",
    "VideoModel": "vnaw.models.video",
    "analyze_video": "vnaw.inference.analyze",
    "stream": "vnaw.inference.live",
}

__all__ = [
    "CLASSES",
    "NUM_CLASSES",
    "ImageClassifier",
    "TemporalEncoder",
    "VNAWLoss",
    "VideoModel",
    "__version__",
    "analyze_video",
    "frame_skip",
    "in_frame_erase",
    "macro_f1",
    "naw_weight",
    "stream",
]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'vnaw' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


if TYPE_CHECKING:  # for editors and type checkers
    from vnaw.augment.video import frame_skip, in_frame_erase
    from vnaw.evaluation.metrics import macro_f1
    from vnaw.inference.analyze import analyze_video
    from vnaw.inference.live import stream
    from vnaw.labels import CLASSES, NUM_CLASSES
    from vnaw.losses.naw import naw_weight
    from vnaw.losses.video import VNAWLoss
    from vnaw.models.encoder import ImageClassifier
    from vnaw.models.temporal import TemporalEncoder
    from vnaw.models.video import VideoModel
