"""Whole videos → aligned face crops in the Aff-Wild2 layout (``vnaw faces``) — design §4, §3.1.

Per video: decode every frame with PyAV (decode order = frame index, the frame's own timestamp kept,
so variable frame rate needs nothing special), find faces and their landmarks with the models that
vnaw ships (MediaPipe's BlazeFace full-range on the whole frame every few frames;
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
hidden per-process folder first and are renamed into place). Two inputs never share an output
(:mod:`vnaw.faces.outputs`), and one ``vnaw faces`` at a time writes to an output folder
(:func:`vnaw.files.output_lock`). Videos run in parallel worker processes, which die with the
command (a killed ``vnaw faces`` leaves no worker running); a file that cannot be decoded (missing,
zero bytes, truncated, not a video) is reported by name and the others go on; the exit code says
whether all succeeded.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING

from vnaw.data.affwild2 import CROPS_DIR
from vnaw.errors import VideoError
from vnaw.faces.detectors import make_detector
from vnaw.faces.outputs import FACES_DIR, check_same_source, check_unique_stems, record_source
from vnaw.faces.track import IoUTracker, name_tracks
from vnaw.faces.types import FaceConfig
from vnaw.faces.video import iter_frames
from vnaw.files import (
    atomic_path,
    describe_os_error,
    one_line,
    output_lock,
    unique_tag,
    write_error,
)
from vnaw.shards import lock_name, relpath, take_shard

if TYPE_CHECKING:
    from vnaw.cluster import RayOptions

__all__ = ["FACES_DIR", "is_done", "process_video", "run_faces"]


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
    tmp = crops_root / f".partial-{name}-{unique_tag()}"
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
            faces = detect.many([fr.rgb])[0]
            ids = tracker.update([f.box for f in faces])
            if not faces:
                rows.append((fr.index, fr.time, -1, None))
            for tid, face in zip(ids, faces, strict=True):
                (tmp / str(tid)).mkdir(exist_ok=True)
                Image.fromarray(face.crop).save(
                    tmp / str(tid) / f"{fr.index + 1:05d}.jpg", quality=config.jpeg_quality
                )
                rows.append((fr.index, fr.time, tid, face))
                seen[tid] = seen.get(tid, 0) + 1
                sum_x[tid] = sum_x.get(tid, 0.0) + float(face.box[0] + face.box[2]) / 2
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed video leaves nothing behind
        with contextlib.suppress(OSError):
            crops_root.rmdir()  # … not even an empty cropped_aligned/ it created
        raise
    finally:
        detect.close()
    names = name_tracks(
        name, seen, {t: sum_x[t] / seen[t] for t in seen}, n, config.min_track_fraction
    )
    _commit_tracks(tmp, names)
    record_source(path, root)
    _write_csv(root / FACES_DIR / f"{name}.csv", rows, names)
    with_face = len({r[0] for r in rows if r[2] in names})
    return {
        "video": name,
        "frames": n,
        "frames_with_face": with_face,
        "tracks": sorted(names.values()),
    }


def _commit_tracks(tmp: Path, names: dict[int, str]) -> None:
    """Rename each kept track's crops from the hidden folder ``tmp`` into place (replacing an
    earlier attempt's); spurious tracks go with ``tmp``."""
    for tid, track in names.items():
        dest = tmp.parent / track
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp / str(tid), dest)
    shutil.rmtree(tmp, ignore_errors=True)


def _write_csv(path: Path, rows: list[tuple], names: dict[int, str]) -> None:
    """The per-video table, written under a hidden name and renamed: its existence = finished."""
    by_frame: dict[int, list] = {}
    for frame, t, tid, face in rows:
        by_frame.setdefault(frame, [t]).append((tid, face))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
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


def is_done(path: Path, root: Path) -> bool:
    """Finished in ``root``; a :class:`VideoError` if another video of that name finished there."""
    if not (root / FACES_DIR / f"{path.stem}.csv").is_file():
        return False
    check_same_source(path, root)
    return True


def _die_with_parent(parent: int) -> None:
    """Worker initializer: the worker is killed when ``vnaw faces`` dies, however it dies (Linux
    ``PR_SET_PDEATHSIG``); elsewhere a killed command's workers end after their current video."""
    import signal

    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _worker(
    path: Path, root: Path, config: FaceConfig, detector: str, weights: str | None, progress: bool
) -> tuple[Path, dict | None, str | None]:
    try:
        return path, process_video(path, root, config, detector, weights, progress), None
    except OSError as err:  # the file being written (crops or table), the video, free space
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            target = Path(err.filename) if err.filename else root / CROPS_DIR / path.stem
            err = write_error(err, target)
        if err.filename is not None and Path(err.filename) == path:
            return path, None, describe_os_error(err)
        return path, None, f"{one_line(str(path))}: {describe_os_error(err)}"
    except (VideoError, ValueError) as err:
        return path, None, str(err)
    except Exception as err:  # not foreseen: this video fails, the batch goes on
        return path, None, f"{path}: unexpected {type(err).__name__}: {err}"


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
    shard: tuple[int, int] | None = None,
    source_root: Path | None = None,
    ray: RayOptions | None = None,
) -> list[str]:
    """Process ``videos`` into ``root``; returns the error messages (empty = all succeeded).

    ``shard=(K, N)``: only the K-th of N shares of ``videos`` (by path relative to
    ``source_root``, :mod:`vnaw.shards`); shards of one folder write disjoint outputs and run side
    by side. ``ray``: each video as a Ray task (:mod:`vnaw.cluster`) instead of ``workers``.

    Refused before any work: two videos with one name (in the whole folder, shards or not), a
    video whose name is taken in ``root`` by another video, a detector that cannot load, and
    another ``vnaw faces`` (of the same shard) writing to ``root``.
    """
    check_unique_stems(videos)
    if detector != "mediapipe":
        make_detector(detector, detector_weights, config)  # fails early, before any video
    mine = take_shard(videos, shard, lambda v: relpath(v, source_root))
    with output_lock(root, lock_name("faces", shard)):
        todo = [v for v in mine if overwrite or not is_done(v, root)]
        # Crops of a killed run; with shards, only this shard's (another may be running).
        for v in todo if shard else [None]:
            for stale in (root / CROPS_DIR).glob(f".partial-{v.stem}-*" if v else ".partial-*"):
                shutil.rmtree(stale, ignore_errors=True)
        if ray is not None:
            return _run_ray(
                todo, len(mine), root, config, detector, detector_weights, ray, progress
            )
        return _run(todo, len(mine), root, config, workers, detector, detector_weights, progress)


def _run_ray(
    todo: list[Path],
    total: int,
    root: Path,
    config: FaceConfig | None,
    detector: str,
    detector_weights: str | None,
    ray: RayOptions,
    progress: bool,
) -> list[str]:
    """:func:`_worker` per video as a Ray task (retried when its worker dies)."""
    from vnaw.cluster import run_tasks, session

    if len(todo) < total and progress:
        print(f"faces: {total - len(todo)} video(s) already done, skipped", file=sys.stderr)
    calls = [(v, root, config, detector, detector_weights, False) for v in todo]
    errors: list[str] = []
    with session(ray):
        for i, result, lost in run_tasks(_worker, calls, ray, desc="faces", progress=progress):
            err = result[2] if lost is None else f"{todo[i]}: {lost}"
            if err is not None:
                errors.append(err)
                print(f"faces: FAILED {one_line(err)}", file=sys.stderr)
    return errors


def _run(
    todo: list[Path],
    total: int,
    root: Path,
    config: FaceConfig | None,
    workers: int,
    detector: str,
    detector_weights: str | None,
    progress: bool,
) -> list[str]:
    from tqdm import tqdm

    if len(todo) < total and progress:
        print(f"faces: {total - len(todo)} video(s) already done, skipped", file=sys.stderr)
    errors: list[str] = []

    def report(path: Path, summary: dict | None, err: str | None) -> None:
        if err is not None:
            errors.append(err)
            tqdm.write(f"faces: FAILED {one_line(err)}", file=sys.stderr)
        elif progress:
            tqdm.write(
                f"faces: {one_line(summary['video'])}: {summary['frames']} frames, "
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

        # spawn: ONNX Runtime's thread pools do not survive fork.
        with ProcessPoolExecutor(
            workers,
            mp_context=mp.get_context("spawn"),
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            futs = [
                pool.submit(_worker, v, root, config, detector, detector_weights, False)
                for v in todo
            ]
            for fut in as_completed(futs):
                report(*fut.result())
                bar.update()
    bar.close()
    return errors
