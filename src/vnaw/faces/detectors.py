"""Face detectors: one protocol, MediaPipe (shipped in its wheel; the default) and RetinaFace.

A detector is called on one RGB frame and returns the faces in it (:class:`~vnaw.faces.types.Face`:
box, the 5 points of the alignment template, score), at most ``config.max_faces``; ``many`` takes
consecutive frames and also gives each face its aligned crop (:func:`with_crops`); ``close()``
frees it. :func:`make_detector` builds one by name."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from vnaw.errors import ConfigError
from vnaw.faces.align import align
from vnaw.faces.track import dedupe, overlap
from vnaw.faces.types import Face, FaceConfig

# FaceMesh indices of the 5 points: eye corners (averaged to centres), nose tip, mouth corners.
_EYE_L, _EYE_R, _NOSE, _MOUTH_L, _MOUTH_R = (33, 133), (362, 263), 1, 61, 291
ROI_SCALE = 1.8  # region FaceMesh sees around a face box (landmark boxes are tight)
ROI_PIXELS = 256  # the region is resampled to this size (FaceMesh itself uses 192)


def with_crops(rgb: np.ndarray, faces: list[Face], config: FaceConfig) -> list[Face]:
    """``faces`` with their aligned ``config.crop_size`` crops of ``rgb`` (design §4)."""
    for face in faces:
        face.crop = align(rgb, face.points, config.crop_size, config.framing)
    return faces


class Detector(Protocol):
    """What :func:`make_detector` returns."""

    def many(self, frames: Sequence[np.ndarray]) -> list[list[Face]]: ...

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

    :meth:`many` takes ``workers`` consecutive frames at once, each in a thread of its own (MediaPipe
    releases the GIL, so they run on separate cores): every frame of such a group is followed from
    the faces of the frame before the group. With ``workers=1`` (``vnaw faces``, which runs videos in
    parallel processes instead) that is the previous frame; ``vnaw predict`` uses 3, so a face is
    searched around where it was up to 3 frames (0.1 s at 30 fps) before, well inside the region
    (1.8× the face).
    """

    def __init__(self, config: FaceConfig | None = None, workers: int = 1) -> None:
        self.config = config or FaceConfig()
        self.workers = max(1, workers)
        self._graphs: list = []  # every MediaPipe graph made, for close()
        self._local = threading.local()  # each thread's own graphs (a graph is not thread-safe)
        self._pool = None
        self._tracked: list[np.ndarray] = []  # boxes of the faces found in the last frame
        self._since_detection = self.config.detect_every
        self._graphs_of_this_thread()  # fails now, not in a worker, if MediaPipe cannot load

    def _graphs_of_this_thread(self):
        g = getattr(self._local, "graphs", None)
        if g is None:
            from mediapipe.python.solutions.face_detection import FaceDetection
            from mediapipe.python.solutions.face_mesh import FaceMesh

            # Full range, not FaceMesh's built-in short-range detector: the short-range model
            # misses faces away from the frame centre in wide frames (a 150 px face in 640×360).
            g = self._local.graphs = (
                FaceDetection(
                    model_selection=1, min_detection_confidence=self.config.min_detection_confidence
                ),
                FaceMesh(
                    static_image_mode=True,
                    max_num_faces=1,
                    min_detection_confidence=self.config.min_tracking_confidence,
                ),
            )
            self._graphs.extend(g)
        return g

    def _detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
        h, w = rgb.shape[:2]
        found = []
        for det in self._graphs_of_this_thread()[0].process(rgb).detections or []:
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
        result = self._graphs_of_this_thread()[1].process(roi)
        if not result.multi_face_landmarks:
            return None
        points, fbox = _mesh_points(result.multi_face_landmarks[0].landmark, ROI_PIXELS, ROI_PIXELS)
        # region pixels → frame pixels
        return Face(fbox / k + np.array([x0, y0, x0, y0]), points / k + np.array([x0, y0]))

    def _faces(self, rgb: np.ndarray, tracked: list[np.ndarray], detect: bool) -> list[Face]:
        """One frame's faces, followed from the ``tracked`` boxes (detecting first if told)."""
        candidates = [(b, float("nan")) for b in tracked]
        if detect:
            detected = self._detect(rgb)
            # Detections replace the tracked boxes they overlap; the others are kept.
            candidates = detected + [
                c for c in candidates if all(overlap(c[0], d[0]) <= 0.3 for d in detected)
            ]
        faces = []
        for box, score in candidates:
            face = self._landmarks(rgb, box)
            if face is not None:
                face.score = score
                faces.append(face)
        return with_crops(rgb, dedupe(faces)[: self.config.max_faces], self.config)

    def many(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """The faces of consecutive frames with their crops, in order, ``workers`` frames at a
        time."""
        out: list[list[Face]] = []
        for a in range(0, len(frames), self.workers):
            group = frames[a : a + self.workers]
            due = []
            for _ in group:  # the serial schedule: every detect_every frames, or while no face
                due.append(not self._tracked or self._since_detection >= self.config.detect_every)
                self._since_detection = 1 if due[-1] else self._since_detection + 1
            jobs = [(rgb, self._tracked, d) for rgb, d in zip(group, due, strict=True)]
            if len(group) == 1:
                found = [self._faces(*jobs[0])]
            else:
                if self._pool is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vnaw-faces")
                found = list(self._pool.map(lambda job: self._faces(*job), jobs))
            self._tracked = [f.box for f in found[-1]]
            out.extend(found)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for graph in self._graphs:
            graph.close()
        self._graphs.clear()


def still_image_points(detector: MediaPipeFaces, rgb: np.ndarray) -> np.ndarray | None:
    """The 5 points (pixels of ``rgb``) of the face in a still image, or ``None`` if none is found.

    Made for face photos however tightly cropped (FERPlus's fill their 48 px): the image is
    upscaled to at least 192 px and padded by half its side, since the detector misses faces
    that touch the border."""
    import cv2

    h, w = rgb.shape[:2]
    k = max(1.0, 192 / max(h, w))
    big = cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_CUBIC)
    pad = big.shape[0] // 2
    big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    # Detection and landmarks only: the aligned crop that _faces would also make is not needed.
    faces = [f for box, _ in detector._detect(big) if (f := detector._landmarks(big, box))]
    faces = dedupe(faces)  # the largest face first, as _faces orders them
    return (faces[0].points - pad) / k if faces else None


def make_detector(
    name: str = "mediapipe",
    weights: str | None = None,
    config: FaceConfig | None = None,
    workers: int = 1,
):
    """The face detector: ``"mediapipe"`` (default, offline) or ``"retinaface"`` (its weights file);
    ``workers``: frames MediaPipe works on at once (:meth:`MediaPipeFaces.many`)."""
    # Deviation: the paper detects with RetinaFace; its weights ship in no PyPI package, so the
    # default is MediaPipe's BlazeFace + FaceMesh, which work offline (design §4).
    config = config or FaceConfig()
    if name == "mediapipe":
        return MediaPipeFaces(config, workers)
    if name == "retinaface":
        if not weights:
            raise ConfigError("--detector retinaface needs --detector-weights FILE (its weights)")
        from vnaw.faces.retinaface import RetinaFaces

        return RetinaFaces(weights, config)
    raise ConfigError(f"unknown detector {name!r}; choose mediapipe or retinaface")
