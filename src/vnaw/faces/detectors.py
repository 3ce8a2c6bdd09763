"""Face detectors: one protocol, MediaPipe's face models (shipped with vnaw; the default) and
RetinaFace.

A detector is called on one RGB frame and returns the faces in it (:class:`~vnaw.faces.types.Face`:
box, the 5 points of the alignment template, score), at most ``config.max_faces``; ``many`` takes
consecutive frames and also gives each face its aligned crop (:func:`~vnaw.faces.align.with_crops`); ``close()``
frees it. :func:`make_detector` builds one by name."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np

from vnaw.errors import ConfigError, ModelFileError
from vnaw.faces import blaze
from vnaw.faces.align import with_crops
from vnaw.faces.track import dedupe, overlap
from vnaw.faces.types import Face, FaceConfig

# FaceMesh indices of the 5 points: eye corners (averaged to centres), nose tip, mouth corners.
_EYE_L, _EYE_R, _NOSE, _MOUTH_L, _MOUTH_R = (33, 133), (362, 263), 1, 61, 291
DETECTOR_FILE = "face_detection_full_range.onnx"
LANDMARK_FILE = "face_landmark.onnx"
# FaceMesh runs again on its own landmarks' region when that moved by more than this fraction of
# the region's side (benchmarks/face_models.py).
REFINE_SHIFT = 0.04


class Detector(Protocol):
    """What :func:`make_detector` returns."""

    def many(self, frames: Sequence[np.ndarray]) -> list[list[Face]]: ...

    def close(self) -> None: ...


def five_points(xy: np.ndarray) -> np.ndarray:
    """The 5 alignment points ``(5, 2)`` from FaceMesh's 468 landmarks ``(468, 2)``."""
    return np.stack(
        [xy[list(_EYE_L)].mean(0), xy[list(_EYE_R)].mean(0), xy[_NOSE], xy[_MOUTH_L], xy[_MOUTH_R]]
    )


def _session(name: str):
    """An ONNX Runtime session of a shipped face model: one thread (frames run in parallel)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    path = Path(str(resources.files("vnaw"))) / "weights" / name
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # ONNX Runtime raises its own bare exception types
        raise ModelFileError(
            f"{path}: the face model cannot be loaded ({err}); reinstall vnaw"
        ) from None


class MediaPipeFaces:
    """MediaPipe's BlazeFace full-range detector + FaceMesh landmarks, run in ONNX Runtime.

    The detector runs on the whole frame every ``detect_every`` frames (and whenever no face is
    tracked); in between, each face is followed from its previous landmarks, as MediaPipe's own
    tracking graph does: FaceMesh runs on the square region 1.5× their box, turned so the eyes are
    level, and its face score (≥ ``min_tracking_confidence``) says whether the face is still there.
    The pre/post-processing of MediaPipe's graphs is :mod:`vnaw.faces.blaze`.

    :meth:`many` takes ``workers`` consecutive frames at once, each in a thread of its own (ONNX
    Runtime releases the GIL, so they run on separate cores): every frame of such a group is
    followed from the faces of the frame before the group. With ``workers=1`` (``vnaw faces``,
    which runs videos in parallel processes instead) that is the previous frame; ``vnaw predict``
    uses 3, so a face is searched around where it was up to 3 frames (0.1 s at 30 fps) before, well
    inside the region (1.5× the landmarks' box).
    """

    def __init__(self, config: FaceConfig | None = None, workers: int = 1) -> None:
        self.config = config or FaceConfig()
        self.workers = max(1, workers)
        self._pool = None
        # (box, region) of each face found in the last frame
        self._tracked: list[tuple[np.ndarray, np.ndarray]] = []
        self._since_detection = self.config.detect_every
        self._detector = _session(DETECTOR_FILE)  # sessions are thread-safe
        self._mesh = _session(LANDMARK_FILE)
        self._anchors = blaze.ssd_anchors()
        # the most faces beyond max_faces found in one frame so far (the caller reports them)
        self.dropped = 0

    def _detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float, np.ndarray]]:
        """Whole-frame detection: (box, score, region for FaceMesh) per face, best first."""
        import cv2

        h, w = rgb.shape[:2]
        m = blaze.letterbox(h, w)
        size = blaze.DETECTOR_SIZE
        x = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR)
        x = (x.astype(np.float32) / 127.5 - 1.0)[None]
        raw_boxes, raw_scores = self._detector.run(None, {"input": x})
        boxes, keypoints, scores = blaze.weighted_nms(
            *blaze.decode(
                raw_boxes[0], raw_scores[0], self._anchors, self.config.min_detection_confidence
            )
        )
        found = []
        for box, kp, score in zip(boxes, keypoints, scores, strict=True):
            box = blaze.to_frame(m, box.reshape(2, 2) * size).reshape(4)
            kp = blaze.to_frame(m, kp * size)
            found.append((box, float(score), blaze.roi(box, blaze.eye_angle(kp[0], kp[1]))))
        return found

    def _landmarks(self, rgb: np.ndarray, region: np.ndarray) -> tuple[Face, np.ndarray] | None:
        """FaceMesh on ``region``: the face (landmarks' box, 5 points) and its next region, or
        ``None`` when the face score is below ``min_tracking_confidence``.

        FaceMesh's landmarks shift with where the face sits in its region: when the region its
        own landmarks give is off by more than ``REFINE_SHIFT`` (a face that moved since the
        region was placed, or a detector box, framed differently), it runs again there."""
        found = self._mesh_once(rgb, region)
        if found is not None and blaze.region_shift(region, found[1]) > REFINE_SHIFT:
            found = self._mesh_once(rgb, found[1]) or found
        return found

    def _mesh_once(self, rgb: np.ndarray, region: np.ndarray) -> tuple[Face, np.ndarray] | None:
        import cv2

        if region[2] < 8:
            return None
        size = blaze.LANDMARK_SIZE
        m = blaze.roi_matrix(region)
        x = cv2.warpAffine(
            rgb, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip
        raw, flag = self._mesh.run(None, {"input": (x.astype(np.float32) / 255.0)[None]})
        if blaze.sigmoid(flag.reshape(-1))[0] < self.config.min_tracking_confidence:
            return None
        xy = blaze.landmarks_to_frame(raw.reshape(-1), region)
        box = np.concatenate([xy.min(0), xy.max(0)])
        return Face(box, five_points(xy)), blaze.landmark_roi(xy)

    def _faces(
        self, rgb: np.ndarray, tracked: list[tuple[np.ndarray, np.ndarray]], detect: bool
    ) -> tuple[list[Face], list[np.ndarray]]:
        """One frame's faces and their next regions, followed from ``tracked`` (box, region)
        pairs (detecting first if told)."""
        candidates = [(box, float("nan"), region) for box, region in tracked]
        if detect:
            detected = self._detect(rgb)
            # Detections replace the tracked faces they overlap; the others are kept.
            candidates = detected + [
                c for c in candidates if all(overlap(c[0], d[0]) <= 0.3 for d in detected)
            ]
        faces, regions = [], {}
        for _, score, region in candidates:
            found = self._landmarks(rgb, region)
            if found is not None:
                found[0].score = score
                faces.append(found[0])
                regions[id(found[0])] = found[1]
        faces = dedupe(faces)
        kept = faces[: self.config.max_faces]
        return (
            with_crops(rgb, kept, self.config),
            [regions[id(f)] for f in kept],
            len(faces) - len(kept),
        )

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
            faces, regions, _ = found[-1]
            self._tracked = [(f.box, r) for f, r in zip(faces, regions, strict=True)]
            self.dropped = max([self.dropped, *(d for _, _, d in found)])
            out.extend(f for f, _, _ in found)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


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
    faces = [
        f[0] for _, _, region in detector._detect(big) if (f := detector._landmarks(big, region))
    ]
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
    # default is MediaPipe's BlazeFace + FaceMesh, shipped with vnaw (design §4).
    config = config or FaceConfig()
    if name == "mediapipe":
        return MediaPipeFaces(config, workers)
    if name == "retinaface":
        if not weights:
            raise ConfigError("--detector retinaface needs --detector-weights FILE (its weights)")
        from vnaw.faces.retinaface import RetinaFaces

        return RetinaFaces(weights, config)
    raise ConfigError(f"unknown detector {name!r}; choose mediapipe or retinaface")
