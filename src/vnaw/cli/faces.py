"""``vnaw faces VIDEO_OR_DIR --out ROOT``: raw videos → aligned face crops (:mod:`vnaw.faces`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_faces(args: argparse.Namespace) -> int:
    from vnaw.faces.pipeline import run_faces
    from vnaw.faces.types import FaceConfig
    from vnaw.faces.video import find_videos

    config = FaceConfig(
        crop_size=args.size, max_faces=args.max_faces, detect_every=args.detect_every
    )
    if not Path(args.input).exists():
        raise FileNotFoundError(2, "no such file or folder", args.input)
    videos = find_videos(args.input)
    if not videos:
        raise FileNotFoundError(2, "no video files found", args.input)
    ray = None
    if args.ray:
        from vnaw.cluster import RayOptions, require_ray

        require_ray()  # one line before any work when Ray is not installed
        ray = RayOptions.from_args(args)
    from vnaw.inference.quiet import native_stderr_silenced

    with native_stderr_silenced(args.quiet):  # --quiet: native libraries' log lines too
        errors = run_faces(
            videos,
            Path(args.out),
            config,
            workers=args.workers,
            detector=args.detector,
            detector_weights=args.detector_weights,
            overwrite=args.overwrite,
            progress=not args.quiet,
            shard=args.shard,
            source_root=Path(args.input) if Path(args.input).is_dir() else None,
            ray=ray,
        )
    if errors:
        if len(videos) > 1:  # a batch: the count after the per-video lines
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


def shard_arg(text: str) -> tuple[int, int]:
    """``--shard K/N`` for argparse: its error is the one line of :func:`vnaw.shards.parse_shard`."""
    from vnaw.shards import parse_shard

    try:
        return parse_shard(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_scale_arguments(p: argparse.ArgumentParser, cpus: float, cpus_help: str) -> None:
    """``--shard`` and the ``--ray`` options, shared by the per-video commands."""
    p.add_argument(
        "--shard",
        type=shard_arg,
        metavar="K/N",
        help="only this job's share (K of N) of the folder: a stable split by hashed relative "
        "path, for the N jobs of a scheduler's array (e.g. K=$SLURM_ARRAY_TASK_ID)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run each video as a Ray task: alone, on a local Ray instance; 'auto' or HOST:PORT, "
        'on that cluster (pip install "vnaw[ray]")',
    )
    p.add_argument("--ray-cpus", type=float, default=cpus, help=f"{cpus_help} (default {cpus:g})")
    p.add_argument(
        "--ray-gpus",
        type=float,
        help="GPUs each video's task declares (default 1 with --device cuda, else 0)",
    )
    p.add_argument(
        "--ray-retries",
        type=int,
        default=3,
        help="times a task is rerun when its worker or node dies (default 3)",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "faces",
        help="detect, track and align faces of raw videos into cropped_aligned/ (design §4)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("input", metavar="VIDEO_OR_DIR", help="a video file or a folder of videos")
    p.add_argument("--out", required=True, metavar="ROOT", help="dataset root to write into")
    p.add_argument("--size", type=int, default=224, help="crop side in pixels (default 224)")
    add_detector_arguments(p)
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="videos processed in parallel (with a bare --ray: by the local Ray instance)",
    )
    add_scale_arguments(p, cpus=1, cpus_help="CPUs each video's task declares")
    p.add_argument("--overwrite", action="store_true", help="redo videos already finished")
    p.add_argument(
        "--quiet", action="store_true", help="no progress output and no native log lines"
    )
    p.set_defaults(func=_cmd_faces)
