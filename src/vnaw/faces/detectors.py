"""Face detectors: one protocol, MediaPipe (shipped in its wheel; the default) and RetinaFace.

A detector is called on one RGB frame and returns the faces in it (:class:`~vnaw.faces.types.Face`:
box, the 5 points of the alignment template, score), at most ``config.max_faces``; ``close()``
frees it. :func:`make_detector` builds one by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from vnaw.errors import ConfigError
from vnaw.faces.track import dedupe, overlap
from vnaw.faces.types import Face, FaceConfig

# FaceMesh indices of the 5 points: eye corners (averaged to centres), nose tip, mouth corners.
_EYE_L, _EYE_R, _NOSE, _MOUTH_L, _MOUTH_R = (33, 133), (362, 263), 1, 61, 291
ROI_SCALE = 1.8  # region FaceMesh sees around a face box (landmark boxes are tight)
ROI_PIXELS = 256  # the region is resampled to this size (FaceMesh itself uses 192)


class Detector(Protocol):
    """What :func:`make_detector` returns."""

    def __call__(self, rgb: np.ndarray) -> list[Face]: ...

    def close(self) -> None: ...


def _mesh_points(landmarks: Sequence, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """FaceMesh's 468 normalised landmarks → (5-point array (5, 2), box (4,)) in pixels."""
    xy = np.array([(p.x * width, p.y * height) for p in landmarks], dtype=np.float64)
    points = np.stack(
        [xy[list(_EYE_L)].mean(0), xy[list(_EYE_R)].mean(0), xy[_NOSE], xy[_MOUTH_L], xy[_MOUTH_R]]
    )
    box = np.concatenate([xy.min(0), xy.max(0)])
    return points, box


class MediaPipeFaces:
    """BlazeFace full-range detection + FaceMesh landmarks from the MediaPipe wheel; offline.

    The detector runs on the whole frame every ``detect_every`` frames (and whenever no face is
    tracked); in between, each face is followed from its previous box: FaceMesh runs on a square
    region around it, as MediaPipe's own tracking graph does. Per region FaceMesh finds the face
    (its short-range detector, reliable on a face that fills the region) and its 468 landmarks.
    """

    def __init__(self, config: FaceConfig | None = None) -> None:
        config = config or FaceConfig()
        from mediapipe.python.solutions.face_detection import FaceDetection
        from mediapipe.python.solutions.face_mesh import FaceMesh

        self.config = config
        # Full range, not FaceMesh's built-in short-range detector: the short-range model misses
        # faces away from the frame centre in wide frames (measured: a 150 px face in 640×360).
        self._detector = FaceDetection(
            model_selection=1, min_detection_confidence=config.min_detection_confidence
        )
        self._mesh = FaceMesh(
            static_image_mode=True,
            max_num_faces=1,
            min_detection_confidence=config.min_tracking_confidence,
        )
        self._tracked: list[np.ndarray] = []  # boxes of the faces found in the previous frame
        self._since_detection = config.detect_every

    def _detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
        h, w = rgb.shape[:2]
        found = []
        for det in self._detector.process(rgb).detections or []:
            r = det.location_data.relative_bounding_box
            box = np.array(
                [r.xmin * w, r.ymin * h, (r.xmin + r.width) * w, (r.ymin + r.height) * h]
            )
            found.append((box, float(det.score[0])))
        return found

    def _landmarks(self, rgb: np.ndarray, box: np.ndarray) -> Face | None:
        """FaceMesh on the square region around ``box`` (side ``ROI_SCALE`` × the box's larger side)."""
        import cv2

        side = ROI_SCALE * float(max(box[2] - box[0], box[3] - box[1]))
        if side < 8:
            return None
        x0, y0 = (box[0] + box[2] - side) / 2, (box[1] + box[3] - side) / 2
        k = ROI_PIXELS / side
        m = np.array([[k, 0, -k * x0], [0, k, -k * y0]])
        roi = cv2.warpAffine(rgb, m, (ROI_PIXELS, ROI_PIXELS), flags=cv2.INTER_LINEAR)
        result = self._mesh.process(roi)
        if not result.multi_face_landmarks:
            return None
        points, fbox = _mesh_points(result.multi_face_landmarks[0].landmark, ROI_PIXELS, ROI_PIXELS)
        # region pixels → frame pixels
        return Face(fbox / k + np.array([x0, y0, x0, y0]), points / k + np.array([x0, y0]))

    def __call__(self, rgb: np.ndarray) -> list[Face]:
        candidates = [(b, float("nan")) for b in self._tracked]
        if self._since_detection >= self.config.detect_every or not self._tracked:
            detected = self._detect(rgb)
            # Detections replace the tracked boxes they overlap; the others are kept.
            candidates = detected + [
                c for c in candidates if all(overlap(c[0], d[0]) <= 0.3 for d in detected)
            ]
            self._since_detection = 0
        self._since_detection += 1
        faces = []
        for box, score in candidates:
            face = self._landmarks(rgb, box)
            if face is not None:
                face.score = score
                faces.append(face)
        faces = dedupe(faces)[: self.config.max_faces]
        self._tracked = [f.box for f in faces]
        return faces

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()


def make_detector(
    name: str = "mediapipe", weights: str | None = None, config: FaceConfig | None = None
):
    """The face detector: ``"mediapipe"`` (default, offline) or ``"retinaface"`` (its weights file)."""
    # Deviation: the paper detects with RetinaFace; its weights ship in no PyPI package, so the
    # default is MediaPipe's BlazeFace + FaceMesh, which work offline (design §4).
    config = config or FaceConfig()
    if name == "mediapipe":
        return MediaPipeFaces(config)
    if name == "retinaface":
        if not weights:
            raise ConfigError("--detector retinaface needs --detector-weights FILE (its weights)")
        from vnaw.faces.retinaface import RetinaFaces

        return RetinaFaces(weights, config)
    raise ConfigError(f"unknown detector {name!r}; choose mediapipe or retinaface")
