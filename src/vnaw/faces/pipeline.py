"""Whole videos → aligned face crops in the Aff-Wild2 layout (``vnaw faces``) — design §4, §3.1.

Per video: decode every frame with PyAV (decode order = frame index, the frame's own timestamp kept,
so variable frame rate needs nothing special), find faces and their landmarks with the models that
MediaPipe 0.10.21 ships in its wheel (BlazeFace full-range on the whole frame every few frames;
FaceMesh on a region around each face, followed from frame to frame) — or, with
``--detector retinaface --detector-weights FILE``, the paper's RetinaFace (:mod:`vnaw.faces.retinaface`)
on every frame — take 5 points (eye centres,
nose tip, mouth corners), warp with a similarity transform onto the 5-point template and write the Aff-Wild2
layout of design §3.1::

    ROOT/cropped_aligned/<track>/<k:05d>.jpg    k = 1-based frame index; no face → no file
    ROOT/faces/<video>.csv                      one row per (frame, face) or per face-less frame

``<track>`` is ``<video>`` for one person, ``<video>_left`` / ``<video>_right`` for two, and
``<video>_face<N>`` for more (design §4). A simple IoU tracker keeps one track per person.

Resumable: a video is finished exactly when its CSV exists (written last, atomically; crops go to a
hidden folder first and are renamed into place). Videos run in parallel worker processes; a file
that cannot be decoded (missing, zero bytes, truncated, not a video) is reported by name and the
others go on; the exit code says whether all succeeded.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from vnaw.data.affwild2 import CROPS_DIR
from vnaw.errors import VideoError
from vnaw.faces.align import align
from vnaw.faces.detectors import make_detector
from vnaw.faces.track import IoUTracker, name_tracks
from vnaw.faces.types import FaceConfig
from vnaw.faces.video import iter_frames

FACES_DIR = "faces"  # per-video CSVs (the commit markers of `vnaw faces`)


CSV_COLUMNS = ["frame", "time_s", "track", "face_found", "score", "x0", "y0", "x1", "y1"] + [
    f"{p}_{c}" for p in ("eye_l", "eye_r", "nose", "mouth_l", "mouth_r") for c in "xy"
]


def _fmt(v: float) -> str:
    return "" if v != v else f"{v:.2f}"  # NaN → empty


def process_video(
    path: Path,
    root: Path,
    config: FaceConfig | None = None,
    detector: str = "mediapipe",
    detector_weights: str | None = None,
    progress: bool = False,
) -> dict:
    """Crops and CSV for one video; returns a summary. Raises :class:`VideoError` on bad files."""
    config = config or FaceConfig()
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
    config: FaceConfig | None = None,
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
