"""``vnaw faces VIDEO_OR_DIR --out ROOT`` — raw video → aligned face crops — SPEC §4, §3.1.

Per video: decode every frame with PyAV (decode order = frame index, the frame's own timestamp kept,
so variable frame rate needs nothing special), find faces and their landmarks with the models that
MediaPipe 0.10.21 ships in its wheel (BlazeFace full-range on the whole frame every few frames;
FaceMesh on a region around each face, followed from frame to frame) — or, with
``--detector retinaface --detector-weights FILE``, the paper's RetinaFace (:mod:`vnaw.retinaface`)
on every frame — take 5 points (eye centres,
nose tip, mouth corners), warp with a similarity transform onto the 5-point template and write the Aff-Wild2
layout of SPEC §3.1::

    ROOT/cropped_aligned/<track>/<k:05d>.jpg    k = 1-based frame index; no face → no file
    ROOT/faces/<video>.csv                      one row per (frame, face) or per face-less frame

``<track>`` is ``<video>`` for one person, ``<video>_left`` / ``<video>_right`` for two, and
``<video>_face<N>`` for more (SPEC §4). A simple IoU tracker keeps one track per person.

Resumable: a video is finished exactly when its CSV exists (written last, atomically; crops go to a
hidden folder first and are renamed into place). Videos run in parallel worker processes; a file
that cannot be decoded (missing, zero bytes, truncated, not a video) is reported by name and the
others go on; the exit code says whether all succeeded.

Symbols → names: the 5 template points → ``TEMPLATE_112``; the similarity transform → ``umeyama``.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vnaw.data.affwild2 import CROPS_DIR

FACES_DIR = "faces"  # per-video CSVs (the commit markers of `vnaw faces`)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")

# ArcFace's 5-point template in a 112×112 crop: image-left eye, image-right eye, nose tip,
# image-left and image-right mouth corner. The de-facto standard for aligned face crops.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
     [70.7299, 92.2041]], dtype=np.float64,
)  # fmt: skip
# FaceMesh indices of the 5 points: eye corners (averaged to centres), nose tip, mouth corners.
_EYE_L, _EYE_R, _NOSE, _MOUTH_L, _MOUTH_R = (33, 133), (362, 263), 1, 61, 291
ROI_SCALE = 1.8  # region FaceMesh sees around a face box (landmark boxes are tight)
ROI_PIXELS = 256  # the region is resampled to this size (FaceMesh itself uses 192)


class VideoError(RuntimeError):
    """A file that cannot be read as a video; the message names the file."""


@dataclass(frozen=True)
class FaceConfig:
    """Detection and alignment settings (defaults: SPEC §4, 224 px like Aff-Wild2's crops)."""

    crop_size: int = 224
    # < 1 shrinks the template towards the crop centre (more context around the face); 1 = the
    # standard ArcFace crop, which keeps brows and mouth, the expressive parts.
    template_scale: float = 1.0
    max_faces: int = 2  # faces followed per frame
    # Whole-frame detection every this many frames (new faces appear within 1/3 s at 30 fps);
    # in between, faces are followed from their previous box.
    detect_every: int = 10
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5  # FaceMesh's face score in the followed region
    min_track_fraction: float = 0.02  # tracks seen in fewer frames are dropped as spurious
    jpeg_quality: int = 95


@dataclass
class Face:
    """One face in one frame, pixel coordinates of the full frame."""

    box: np.ndarray  # (4,) x0, y0, x1, y1
    points: np.ndarray  # (5, 2) template order (TEMPLATE_112)
    score: float = float("nan")  # detector score on frames where the detector ran, else NaN


@dataclass
class Frame:
    index: int  # 0-based decode order
    time: float  # seconds, from the frame's own timestamp
    rgb: np.ndarray  # (H, W, 3) uint8


# -- decoding ----------------------------------------------------------------------------------


def check_video_file(path: Path) -> None:
    """Fail early, naming the file, for the cases PyAV reports obscurely."""
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")


def iter_frames(path: str | os.PathLike[str]) -> Iterator[Frame]:
    """Decode all video frames of ``path`` in order, as RGB, with their timestamps.

    Raises :class:`VideoError` (naming the file) if the file is not a readable video, has no video
    stream, or breaks off with a decoding error.
    """
    import av

    path = Path(path)
    check_video_file(path)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError) as err:
        raise VideoError(f"{path}: not a readable video ({err})") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: contains no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        index = 0
        try:
            for frame in container.decode(stream):
                # Timestamps, not index / fps: variable-frame-rate videos stay in real time.
                t = frame.time if frame.time is not None else index / rate
                yield Frame(index, float(t), frame.to_ndarray(format="rgb24"))
                index += 1
        except av.FFmpegError as err:
            raise VideoError(
                f"{path}: decoding failed after {index} frames, truncated or corrupt? ({err})"
            ) from None
        if index == 0:
            raise VideoError(f"{path}: no decodable video frame (truncated or corrupt?)")


# -- detection ---------------------------------------------------------------------------------


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

    def __init__(self, config: FaceConfig = FaceConfig()) -> None:
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
    name: str = "mediapipe", weights: str | None = None, config: FaceConfig = FaceConfig()
):
    """The face detector: ``"mediapipe"`` (default, offline) or ``"retinaface"`` (its weights file)."""
    if name == "mediapipe":
        return MediaPipeFaces(config)
    if name == "retinaface":
        if not weights:
            raise ValueError("--detector retinaface needs --detector-weights FILE (its weights)")
        from vnaw.retinaface import RetinaFaces

        return RetinaFaces(weights, config)
    raise ValueError(f"unknown detector {name!r}; choose mediapipe or retinaface")


# -- alignment ---------------------------------------------------------------------------------


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
    """The ``size × size`` aligned crop: ``points`` warped onto the template (SPEC §4)."""
    import cv2

    m = umeyama(points, template(size, scale))
    return cv2.warpAffine(
        rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


# -- tracking ----------------------------------------------------------------------------------


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(w * h / smaller) if smaller > 0 else 0.0


def dedupe(faces: list[Face], max_overlap: float = 0.3) -> list[Face]:
    """Drop duplicate faces of one person.

    When a face moves fast, FaceMesh's tracked region lags and the detector finds the face again:
    two overlapping faces for one person. The fresh detection (it has a score) wins, then the larger.
    """
    order = sorted(
        faces, key=lambda f: (f.score == f.score, np.prod(f.box[2:] - f.box[:2])), reverse=True
    )
    kept: list[Face] = []
    for f in order:
        if all(overlap(f.box, k.box) <= max_overlap for k in kept):
            kept.append(f)
    return kept


@dataclass
class IoUTracker:
    """Greedy IoU matching of each frame's faces to tracks, one track per person.

    A face that overlaps no track's last box takes over the track (not matched in this frame)
    whose last box is nearest, so a person who leaves and comes back keeps one track; a new track
    starts only when every track is taken. Thus the number of tracks is the largest number of faces
    seen at once.
    """

    min_iou: float = 0.3
    last: list[np.ndarray] = field(default_factory=list)  # last box per track id

    def update(self, boxes: Sequence[np.ndarray]) -> list[int]:
        ids = [-1] * len(boxes)
        pairs = sorted(
            ((iou(b, t), i, j) for i, b in enumerate(boxes) for j, t in enumerate(self.last)),
            reverse=True,
        )
        taken: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < self.min_iou:
                break
            if ids[i] < 0 and j not in taken:
                ids[i], _ = j, taken.add(j)
        for i, b in enumerate(boxes):
            if ids[i] >= 0:
                continue
            free = [j for j in range(len(self.last)) if j not in taken]
            if free:
                centre = (b[:2] + b[2:]) / 2
                j = min(
                    free,
                    key=lambda j: np.linalg.norm(
                        (self.last[j][:2] + self.last[j][2:]) / 2 - centre
                    ),
                )
            else:
                j = len(self.last)
                self.last.append(b)
            ids[i] = j
            taken.add(j)
        for i, b in enumerate(boxes):
            self.last[ids[i]] = np.asarray(b, dtype=np.float64)
        return ids


def name_tracks(
    video: str,
    frames_seen: dict[int, int],
    mean_x: dict[int, float],
    total: int,
    min_fraction: float = 0.02,
) -> dict[int, str]:
    """Output name per kept track id (SPEC §4): ``video``, ``video_left/right`` or ``video_faceN``.

    Tracks seen in fewer than ``min_fraction`` of the frames (and not the only track) are dropped.
    """
    keep = [t for t, n in frames_seen.items() if n >= max(1, min_fraction * total)]
    if not keep and frames_seen:
        keep = [max(frames_seen, key=frames_seen.__getitem__)]
    if len(keep) == 1:
        return {keep[0]: video}
    keep.sort(key=lambda t: mean_x[t])  # left to right in the image
    if len(keep) == 2:
        return {keep[0]: f"{video}_left", keep[1]: f"{video}_right"}
    return {t: f"{video}_face{i + 1}" for i, t in enumerate(keep)}


# -- one video ---------------------------------------------------------------------------------

CSV_COLUMNS = ["frame", "time_s", "track", "face_found", "score", "x0", "y0", "x1", "y1"] + [
    f"{p}_{c}" for p in ("eye_l", "eye_r", "nose", "mouth_l", "mouth_r") for c in "xy"
]


def _fmt(v: float) -> str:
    return "" if v != v else f"{v:.2f}"  # NaN → empty


def process_video(
    path: Path,
    root: Path,
    config: FaceConfig = FaceConfig(),
    detector: str = "mediapipe",
    detector_weights: str | None = None,
    progress: bool = False,
) -> dict:
    """Crops and CSV for one video; returns a summary. Raises :class:`VideoError` on bad files."""
    from PIL import Image
    from tqdm import tqdm

    name = path.stem
    crops_root = root / CROPS_DIR
    tmp = crops_root / f".partial-{name}"
    shutil.rmtree(tmp, ignore_errors=True)  # a previous interrupted attempt
    tmp.mkdir(parents=True)
    detect = make_detector(detector, detector_weights, config)
    tracker = IoUTracker()
    rows: list[tuple] = []  # (frame, time, track id or -1, face)
    seen: dict[int, int] = {}
    sum_x: dict[int, float] = {}
    n = 0
    try:
        for fr in tqdm(
            iter_frames(path), desc=name, unit="frame", disable=not progress, leave=False
        ):
            n += 1
            faces = detect(fr.rgb)
            ids = tracker.update([f.box for f in faces])
            if not faces:
                rows.append((fr.index, fr.time, -1, None))
            for tid, face in zip(ids, faces, strict=True):
                crop = align(fr.rgb, face.points, config.crop_size, config.template_scale)
                (tmp / str(tid)).mkdir(exist_ok=True)
                Image.fromarray(crop).save(
                    tmp / str(tid) / f"{fr.index + 1:05d}.jpg", quality=config.jpeg_quality
                )
                rows.append((fr.index, fr.time, tid, face))
                seen[tid] = seen.get(tid, 0) + 1
                sum_x[tid] = sum_x.get(tid, 0.0) + float(face.box[0] + face.box[2]) / 2
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed video leaves nothing behind
        raise
    finally:
        detect.close()
    names = name_tracks(
        name, seen, {t: sum_x[t] / seen[t] for t in seen}, n, config.min_track_fraction
    )
    for tid, track in names.items():
        dest = crops_root / track
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp / str(tid), dest)
    shutil.rmtree(tmp, ignore_errors=True)  # dropped spurious tracks
    _write_csv(root / FACES_DIR / f"{name}.csv", rows, names)
    with_face = len({r[0] for r in rows if r[2] in names})
    return {
        "video": name,
        "frames": n,
        "frames_with_face": with_face,
        "tracks": sorted(names.values()),
    }


def _write_csv(path: Path, rows: list[tuple], names: dict[int, str]) -> None:
    """The per-video table, written under a hidden name and renamed: its existence = finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    by_frame: dict[int, list] = {}
    for frame, t, tid, face in rows:
        by_frame.setdefault(frame, [t]).append((tid, face))
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for frame, (t, *faces) in by_frame.items():
            kept = [(tid, face) for tid, face in faces if tid in names]
            if not kept:  # no face (or only a dropped spurious one): recorded as such
                w.writerow([frame + 1, f"{t:.4f}", "", 0, *[""] * (len(CSV_COLUMNS) - 4)])
            for tid, face in kept:
                w.writerow(
                    [
                        frame + 1,
                        f"{t:.4f}",
                        names[tid],
                        1,
                        _fmt(face.score),
                        *(_fmt(v) for v in face.box),
                        *(_fmt(v) for v in face.points.ravel()),
                    ]
                )
    os.replace(tmp, path)


# -- batch and CLI -----------------------------------------------------------------------------


def find_videos(path: str | os.PathLike[str]) -> list[Path]:
    """``path`` itself if it is a file, else the video files under the folder (recursive, sorted)."""
    path = Path(path)
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
        )
    return [path]


def is_done(path: Path, root: Path) -> bool:
    return (root / FACES_DIR / f"{path.stem}.csv").is_file()


def _worker(
    path: Path, root: Path, config: FaceConfig, detector: str, weights: str | None, progress: bool
) -> tuple[Path, dict | None, str | None]:
    try:
        return path, process_video(path, root, config, detector, weights, progress), None
    except (VideoError, OSError, ValueError) as err:
        return path, None, str(err)


def run_faces(
    videos: Sequence[Path],
    root: Path,
    config: FaceConfig = FaceConfig(),
    *,
    workers: int = 1,
    detector: str = "mediapipe",
    detector_weights: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[str]:
    """Process ``videos`` into ``root``; returns the error messages (empty = all succeeded)."""
    from tqdm import tqdm

    if detector != "mediapipe":
        make_detector(detector, detector_weights, config)  # fails early, before any video
    todo = [v for v in videos if overwrite or not is_done(v, root)]
    if len(todo) < len(videos) and progress:
        print(f"faces: {len(videos) - len(todo)} video(s) already done, skipped", file=sys.stderr)
    errors: list[str] = []

    def report(path: Path, summary: dict | None, err: str | None) -> None:
        if err is not None:
            errors.append(err)
            tqdm.write(f"faces: FAILED {err}", file=sys.stderr)
        elif progress:
            tqdm.write(
                f"faces: {summary['video']}: {summary['frames']} frames, "
                f"{summary['frames_with_face']} with a face, tracks {summary['tracks']}",
                file=sys.stderr,
            )

    bar = tqdm(total=len(todo), desc="faces", unit="video", disable=not progress)
    if workers <= 1 or len(todo) <= 1:
        for v in todo:
            report(
                *_worker(v, root, config, detector, detector_weights, progress and len(todo) == 1)
            )
            bar.update()
    else:
        import multiprocessing as mp

        # spawn: MediaPipe's graph threads do not survive fork.
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futs = [
                pool.submit(_worker, v, root, config, detector, detector_weights, False)
                for v in todo
            ]
            for fut in as_completed(futs):
                report(*fut.result())
                bar.update()
    bar.close()
    return errors


def _cmd_faces(args: argparse.Namespace) -> int:
    config = FaceConfig(
        crop_size=args.size, max_faces=args.max_faces, detect_every=args.detect_every
    )
    videos = find_videos(args.input)
    if not videos:
        print(f"faces: no video files under {args.input}", file=sys.stderr)
        return 2
    try:
        errors = run_faces(
            videos,
            Path(args.out),
            config,
            workers=args.workers,
            detector=args.detector,
            detector_weights=args.detector_weights,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except ValueError as err:
        print(f"faces: {err}", file=sys.stderr)
        return 2
    if errors:
        print(f"faces: {len(errors)} of {len(videos)} video(s) failed", file=sys.stderr)
        return 1
    return 0


def add_detector_arguments(p: argparse.ArgumentParser) -> None:
    """Face-finding options shared by ``vnaw faces`` and ``vnaw predict``."""
    p.add_argument("--max-faces", type=int, default=2, help="faces tracked per frame (default 2)")
    p.add_argument(
        "--detect-every", type=int, default=10, help="whole-frame detection period in frames"
    )
    p.add_argument("--detector", choices=("mediapipe", "retinaface"), default="mediapipe")
    p.add_argument("--detector-weights", metavar="FILE", help="weights file (RetinaFace)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "faces",
        help="detect, track and align faces of raw videos into cropped_aligned/ (SPEC §4)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("input", metavar="VIDEO_OR_DIR", help="a video file or a folder of videos")
    p.add_argument("--out", required=True, metavar="ROOT", help="dataset root to write into")
    p.add_argument("--size", type=int, default=224, help="crop side in pixels (default 224)")
    add_detector_arguments(p)
    p.add_argument("--workers", type=int, default=1, help="videos processed in parallel")
    p.add_argument("--overwrite", action="store_true", help="redo videos already finished")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_faces)
