"""The shipped face models in ONNX Runtime against the MediaPipe 0.10.21 path they replace.

vnaw ran MediaPipe's legacy solutions (``FaceDetection`` full-range + ``FaceMesh`` in static mode on
a 1.8× square region around each face, found again there by FaceMesh's own short-range detector).
It now runs the same two models (BlazeFace full-range, FaceMesh landmarks) converted to ONNX, with
MediaPipe's pre/post-processing in numpy (:mod:`vnaw.faces.blaze`) and MediaPipe's own tracking
region (1.5× the landmarks, eyes levelled). This script measures, in one run:

1. **landmark agreement** on real photographs (muxspace images, a seeded sample): per image where
   both find a face, the pixel distance between the two paths' 5 alignment points and all 468
   landmarks (mean and 95th percentile), plus images where only one path finds a face;
2. **faces found** on ``benchmarks/predict_speed.py``'s real-photograph clip (a real face swaying
   over a real photograph, 640×360), both paths on the same tracking schedule: frames with a face,
   and the 5-point agreement there;
3. **speed**: milliseconds per frame of detection + landmarks on that clip, one thread each.

Needs ``mediapipe==0.10.21`` (Python ≤ 3.12, numpy < 2) for the comparison; without it only the
new path's speed is printed. Run::

    python benchmarks/face_models.py --images /path/to/muxspace/images --n 400
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _results import add_json_option, write_results  # noqa: E402


def new_path(max_faces: int = 1):
    from vnaw.faces.detectors import MediaPipeFaces
    from vnaw.faces.types import FaceConfig

    return MediaPipeFaces(FaceConfig(max_faces=max_faces))


def old_path(max_faces: int = 1):
    """The MediaPipe 0.10.21 path as vnaw ran it, on the same tracking schedule (a subclass that
    swaps detection and landmarks for MediaPipe's solutions)."""
    import cv2
    from mediapipe.python.solutions.face_detection import FaceDetection
    from mediapipe.python.solutions.face_mesh import FaceMesh

    from vnaw.faces.detectors import MediaPipeFaces, five_points
    from vnaw.faces.types import Face, FaceConfig

    class OldFaces(MediaPipeFaces):
        def __init__(self, config):
            super().__init__(config)
            self.fd = FaceDetection(model_selection=1, min_detection_confidence=0.5)
            self.fm = FaceMesh(
                static_image_mode=True, max_num_faces=1, min_detection_confidence=0.5
            )

        def _detect(self, rgb):
            h, w = rgb.shape[:2]
            out = []
            for det in self.fd.process(rgb).detections or []:
                r = det.location_data.relative_bounding_box
                box = np.array(
                    [r.xmin * w, r.ymin * h, (r.xmin + r.width) * w, (r.ymin + r.height) * h]
                )
                out.append((box, float(det.score[0]), box))  # the region is the box itself
            return out

        def _landmarks(self, rgb, box):
            side = 1.8 * float(max(box[2] - box[0], box[3] - box[1]))
            if side < 8:
                return None
            x0, y0 = (box[0] + box[2] - side) / 2, (box[1] + box[3] - side) / 2
            k = 256 / side
            m = np.array([[k, 0, -k * x0], [0, k, -k * y0]])
            roi = cv2.warpAffine(rgb, m, (256, 256), flags=cv2.INTER_LINEAR)
            res = self.fm.process(roi)
            if not res.multi_face_landmarks:
                return None
            lm = res.multi_face_landmarks[0].landmark
            xy = np.array([(p.x * 256, p.y * 256) for p in lm]) / k + np.array([x0, y0])
            face = Face(np.concatenate([xy.min(0), xy.max(0)]), five_points(xy))
            face.mesh = xy
            return face, face.box

    return OldFaces(FaceConfig(max_faces=max_faces))


def mesh_of(detector, rgb):
    """(5 points, 468 landmarks) of the largest face in a still image, or None."""
    from vnaw.faces import blaze
    from vnaw.faces.detectors import REFINE_SHIFT
    from vnaw.faces.track import dedupe

    found = []
    for _, _, region in detector._detect(rgb):
        r = detector._landmarks(rgb, region)
        if r is not None:
            face = r[0]
            if not hasattr(face, "mesh"):  # the new path: all 468 from the region it used
                first = detector._mesh_once(rgb, region)
                refine = blaze.region_shift(region, first[1]) > REFINE_SHIFT
                face.mesh = _new_mesh(detector, rgb, first[1] if refine else region)
            found.append(face)
    faces = dedupe(found)
    return (faces[0].points, faces[0].mesh) if faces else None


def _new_mesh(detector, rgb, region):
    import cv2

    from vnaw.faces import blaze

    x = cv2.warpAffine(
        rgb, blaze.roi_matrix(region), (192, 192),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    raw, _ = detector._mesh.run(None, {"input": (x.astype(np.float32) / 255)[None]})
    return blaze.landmarks_to_frame(raw.reshape(-1), region)


def _mean(errors: list[np.ndarray]) -> float:
    return float(np.concatenate(errors).mean()) if errors else float("nan")


def _p95(errors: list[np.ndarray]) -> float:
    return float(np.percentile(np.concatenate(errors), 95)) if errors else float("nan")


def stats(errors: list[np.ndarray]) -> str:
    e = np.concatenate(errors) if errors else np.zeros(1)
    return f"mean {e.mean():.2f} px, 95th percentile {np.percentile(e, 95):.2f} px"


def agreement(images: list[Path], old, new) -> dict:
    import cv2
    from PIL import Image

    e5, e468, rel5, only_old, only_new, both = [], [], [], 0, 0, 0
    for path in images:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        # padded by half the side, as vnaw.faces.detectors.still_image_points does for photographs
        # (the detector misses faces that touch the border)
        pad = rgb.shape[0] // 2
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        a, b = mesh_of(old, rgb), mesh_of(new, rgb)
        if a is None or b is None:
            only_old += a is not None and b is None
            only_new += b is not None and a is None
            continue
        both += 1
        d5 = np.linalg.norm(a[0] - b[0], axis=1)
        e5.append(d5)
        e468.append(np.linalg.norm(a[1] - b[1], axis=1))
        rel5.append(d5 / np.linalg.norm(a[0][0] - a[0][1]))
    size = Image.open(images[0]).size
    print(f"landmark agreement on {len(images)} real photographs ({size[0]}×{size[1]} px, padded):")
    print(
        f"  face found by both: {both}; only MediaPipe 0.10.21: {only_old}; only ONNX: {only_new}"
    )
    print(f"  5 alignment points: {stats(e5)}")
    print(f"  468 landmarks:      {stats(e468)}")
    r = np.concatenate(rel5) if rel5 else np.zeros(1)
    figures = {
        "photographs": len(images),
        "face found by both": both,
        "only MediaPipe 0.10.21": int(only_old),
        "only ONNX": int(only_new),
        "5 points mean px": _mean(e5),
        "5 points p95 px": _p95(e5),
        "468 landmarks mean px": _mean(e468),
        "468 landmarks p95 px": _p95(e468),
    }
    print(
        f"  5 points / eye distance: mean {100 * r.mean():.2f} %, p95 {100 * np.percentile(r, 95):.2f} %"
    )
    return figures


def clip_frames(seconds: int) -> list[np.ndarray]:
    import av

    from predict_speed import make_video

    path = make_video(Path("/tmp") / f"vnaw_face_models_{seconds}s.mp4", seconds)
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def run_clip(detector, frames) -> tuple[list, float, float]:
    """Faces per frame; wall and CPU milliseconds per frame (CPU time of the whole process: robust
    to other jobs on a shared machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = [detector.many([f])[0] for f in frames]
    n = len(frames)
    return out, 1000 * (time.perf_counter() - t0) / n, 1000 * (time.process_time() - c0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path, help="a folder of real photographs (muxspace images)")
    ap.add_argument("--n", type=int, default=400, help="photographs sampled (seed 0)")
    ap.add_argument("--seconds", type=int, default=20, help="length of the clip")
    add_json_option(ap)
    args = ap.parse_args()

    import cv2

    from vnaw.inference.quiet import native_stderr_silenced

    cv2.setNumThreads(1)
    try:
        with native_stderr_silenced():
            old = old_path()
    except ImportError:
        old = None
        print("mediapipe is not installed: the new path's speed only", file=sys.stderr)
    new = new_path()
    frames = clip_frames(args.seconds)
    figures: dict = {}
    if old is not None and args.images:
        files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".png"))
        figures["photographs"] = agreement(
            random.Random(0).sample(files, min(args.n, len(files))), old, new
        )
    found_new, ms_new, cpu_new = run_clip(new, frames)
    clip = figures["clip"] = {
        "frames": len(frames),
        "ONNX frames with a face": sum(map(bool, found_new)),
        "ONNX CPU ms/frame": cpu_new,
    }
    print(f"clip: {len(frames)} frames 640×360 (a real face over a real photograph), one thread")
    print(
        f"  ONNX Runtime path: {sum(map(bool, found_new))} frames with a face, "
        f"{ms_new:.2f} ms/frame wall, {cpu_new:.2f} ms/frame CPU"
    )
    if old is not None:
        with native_stderr_silenced():
            found_old, ms_old, cpu_old = run_clip(old, frames)
        print(
            f"  MediaPipe 0.10.21: {sum(map(bool, found_old))} frames with a face, "
            f"{ms_old:.2f} ms/frame wall, {cpu_old:.2f} ms/frame CPU"
        )
        d = [
            np.linalg.norm(a[0].points - b[0].points, axis=1)
            for a, b in zip(found_old, found_new, strict=True)
            if a and b
        ]
        print(f"  5 points, frames with a face in both: {stats(d)}")
        clip.update(
            {
                "MediaPipe frames with a face": sum(map(bool, found_old)),
                "MediaPipe CPU ms/frame": cpu_old,
                "5 points mean px": _mean(d),
                "5 points p95 px": _p95(d),
            }
        )
        print(
            f"  speed: the ONNX path is {ms_old / ms_new:.2f}× MediaPipe's (wall), "
            f"{cpu_old / cpu_new:.2f}× (CPU)"
        )
    write_results(args.json, figures)


if __name__ == "__main__":
    main()
