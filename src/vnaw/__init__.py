"""vnaw — video facial-expression recognition with V-NAW.

Public API (stable): ``CLASSES``, ``naw_weight``, ``frame_skip``, ``in_frame_erase``, ``macro_f1``,
``TemporalEncoder``, ``VNAWLoss``, ``ImageClassifier``.
"""

__version__ = "0.1.0"

from vnaw.augment import frame_skip, in_frame_erase
from vnaw.encoder import ImageClassifier
from vnaw.labels import CLASSES, NUM_CLASSES
from vnaw.loss import VNAWLoss
from vnaw.metrics import macro_f1
from vnaw.naw import naw_weight
from vnaw.temporal import TemporalEncoder

__all__ = [
    "CLASSES",
    "NUM_CLASSES",
    "ImageClassifier",
    "TemporalEncoder",
    "VNAWLoss",
    "__version__",
    "frame_skip",
    "in_frame_erase",
    "macro_f1",
    "naw_weight",
]
