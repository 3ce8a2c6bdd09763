"""What MediaPipe's face graphs did around their two models, as small numpy functions (design §4).

The models (BlazeFace full-range detector, FaceMesh landmarks; Apache-2.0, converted from the
MediaPipe 0.10.21 wheel by ``scripts/tflite_to_onnx.py``) run in ONNX Runtime
(:class:`vnaw.faces.detectors.MediaPipeFaces`); this module holds the rest, with MediaPipe's
settings (``face_detection_full_range.pbtxt``, ``face_landmark_cpu.pbtxt``,
``face_detection_front_detection_to_roi.pbtxt``, ``face_landmark_landmarks_to_roi.pbtxt``):

- detector input: the frame letterboxed onto 192×192 (aspect kept, black borders), values in [-1, 1];
- SSD anchors (one 48×48 layer of unit-size anchors, stride 4) and box/keypoint decoding;
- weighted non-maximum suppression (overlapping boxes averaged, weighted by their scores);
- a face's region of interest, ``roi = (cx, cy, side, angle)`` in frame pixels: the face box
  scaled 1.5× to a square, turned so that the eyes are level; landmarks input: the region
  resampled to 192×192, values in [0, 1]; the 468 landmarks mapped back to frame pixels.
"""

from __future__ import annotations

import math

import numpy as np

DETECTOR_SIZE = 192  # full-range BlazeFace input side
LANDMARK_SIZE = 192  # FaceMesh input side
NUM_KEYPOINTS = 6  # detector keypoints: eye, eye, nose tip, mouth, ear tragion, ear tragion
NMS_IOU = 0.3  # weighted NMS: boxes overlapping more than this are one face
ROI_SCALE = 1.5  # region side / the face box's longer side (detection or landmarks)
SCORE_CLIP = 100.0  # raw scores are clipped to ±this before the sigmoid
# FaceMesh indices of the outer eye corners that level the region (landmarks → next region).
EYE_CORNERS = (33, 263)


def ssd_anchors(
    size: int = DETECTOR_SIZE, strides: tuple[int, ...] = (4,), per_cell: int = 1
) -> np.ndarray:
    """Anchor centres ``(N, 2)`` (x, y) in units of the input side, MediaPipe's order: layer, row,
    column, anchor. Anchors are fixed-size (1×1), so only centres matter."""
    centres = []
    for stride in strides:
        cells = math.ceil(size / stride)
        c = (np.arange(cells) + 0.5) / cells
        yy, xx = np.meshgrid(c, c, indexing="ij")
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -SCORE_CLIP, SCORE_CLIP)))


def decode(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, min_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detector's outputs → ``(boxes (M, 4) x0 y0 x1 y1, keypoints (M, 6, 2), scores (M,))``
    in units of the input side, for anchors scoring at least ``min_score``.

    Each row of ``raw_boxes`` (N, 16): centre offset x, y, width, height, then 6 keypoints (x, y),
    all in input pixels relative to the anchor centre."""
    scores = sigmoid(raw_scores.reshape(-1).astype(np.float64))
    keep = scores >= min_score
    raw = raw_boxes.reshape(len(anchors), -1)[keep].astype(np.float64) / DETECTOR_SIZE
    a = anchors[keep]
    centre = raw[:, :2] + a
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4 : 4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + a[:, None]
    return boxes, keypoints, scores[keep]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` (M, 4) with every box of ``b`` (K, 4)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, threshold: float = NMS_IOU
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted NMS: the best remaining box and every box overlapping it by more than
    ``threshold`` (IoU) become one face, their boxes and keypoints averaged with the scores as
    weights; the face keeps the best score. Best first."""
    order = np.argsort(-scores, kind="stable")
    out_b, out_k, out_s = [], [], []
    while len(order):
        ious = iou_matrix(boxes[order[:1]], boxes[order])[0]
        group = order[ious > threshold]
        group = group if len(group) else order[:1]
        w = scores[group] / scores[group].sum()
        out_b.append(w @ boxes[group])
        out_k.append(np.tensordot(w, keypoints[group], axes=1))
        out_s.append(scores[order[0]])
        order = order[ious <= threshold]
    n = len(out_s)
    return (
        np.array(out_b).reshape(n, 4),
        np.array(out_k).reshape(n, NUM_KEYPOINTS, 2),
        np.array(out_s),
    )


def letterbox(height: int, width: int, size: int = DETECTOR_SIZE) -> np.ndarray:
    """2×3 matrix frame pixels → input pixels: the frame scaled to fit ``size``², centred."""
    k = size / max(height, width)
    return np.array([[k, 0, (size - k * width) / 2], [0, k, (size - k * height) / 2]])


def to_frame(m: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Points ``(..., 2)`` in input pixels → frame pixels, for the 2×3 forward matrix ``m``
    (scale and shift only)."""
    return (xy - m[:, 2]) / np.diag(m[:, :2])


def eye_angle(left: np.ndarray, right: np.ndarray) -> float:
    """Rotation (radians, image coordinates, y down) that levels the line image-left eye →
    image-right eye; MediaPipe's ``rotation = -atan2(-(y1 - y0), x1 - x0)``."""
    return math.atan2(right[1] - left[1], right[0] - left[0])


def roi(box: np.ndarray, angle: float, scale: float = ROI_SCALE) -> np.ndarray:
    """``(cx, cy, side, angle)``: the square around ``box`` (x0 y0 x1 y1, pixels), side ``scale``
    × its longer side, turned by ``angle``."""
    return np.array(
        [
            (box[0] + box[2]) / 2,
            (box[1] + box[3]) / 2,
            scale * max(box[2] - box[0], box[3] - box[1]),
            angle,
        ]
    )


def roi_matrix(r: np.ndarray, size: int = LANDMARK_SIZE) -> np.ndarray:
    """2×3 matrix input pixels → frame pixels of region ``r`` (the inverse map to sample with)."""
    cx, cy, side, angle = r
    k = side / size
    c, s = math.cos(angle) * k, math.sin(angle) * k
    # input (u, v) → frame centre + R·k·((u, v) − size/2)
    return np.array(
        [[c, -s, cx - c * size / 2 + s * size / 2], [s, c, cy - s * size / 2 - c * size / 2]]
    )


def landmarks_to_frame(raw: np.ndarray, r: np.ndarray, size: int = LANDMARK_SIZE) -> np.ndarray:
    """FaceMesh's output (1404,) in input pixels → the 468 landmarks ``(468, 2)`` in frame pixels."""
    uv = raw.reshape(-1, 3)[:, :2].astype(np.float64)
    m = roi_matrix(r, size)
    return uv @ m[:, :2].T + m[:, 2]


def landmark_roi(xy: np.ndarray) -> np.ndarray:
    """The region FaceMesh is run on in the next frame, from this frame's landmarks ``(468, 2)``."""
    box = np.concatenate([xy.min(0), xy.max(0)])
    return roi(box, eye_angle(xy[EYE_CORNERS[0]], xy[EYE_CORNERS[1]]))


def region_shift(a: np.ndarray, b: np.ndarray) -> float:
    """How far region ``b`` is from ``a``: the larger of the centre's move and the side's change,
    in units of ``a``'s side."""
    return float(max(np.hypot(b[0] - a[0], b[1] - a[1]), abs(b[2] - a[2])) / a[2])
