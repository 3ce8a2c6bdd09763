"""``vnaw predict VIDEO_OR_DIR``: raw videos → per-frame expression probabilities (design §8).

Quiet by default: a progress bar, warnings that matter (no face, a truncated file, an unreadable
video in a batch) and one final line saying what was written. Exit status: 0 when every video was
read (with or without a face), 1 when some video of a folder could not be read, 2 for a user
error (the CLI's error boundary).
"""

from __future__ import annotations

import argparse
import errno
import sys
from dataclasses import replace
from pathlib import Path

from vnaw.cli.faces import add_detector_arguments, add_scale_arguments
from vnaw.cli.predict_live import add_live_arguments
from vnaw.errors import ConfigError, VnawError


def _check_out(out: Path) -> None:
    """Refuse an output that is not a folder before any work."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder (--out)", str(out))


def _cmd_predict(args: argparse.Namespace) -> int:
    from vnaw.cli.predict_live import check_live_arguments
    from vnaw.inference.quiet import native_stderr_silenced
    from vnaw.inference.table import check_format

    if args.merge:
        return _merge(args, Path(args.merge))
    if args.input is None:
        raise ConfigError("predict: give a VIDEO_OR_DIR (or --merge OUT)")
    if args.shard and args.abaw_test_list:
        raise ConfigError(
            "--abaw-test-list needs every video: give it to `vnaw predict --merge OUT` once all "
            "shards are done"
        )
    out = Path(args.out)
    _check_out(out)
    check_format(args.format)
    check_live_arguments(args)
    if args.ray:
        from vnaw.cluster import require_ray

        require_ray()  # one line before any work when Ray is not installed
    with native_stderr_silenced(not args.verbose):
        return _predict_all(args, out)


def _predict_all(args: argparse.Namespace, out: Path) -> int:
    from vnaw.cli.predict_live import is_live, predict_live
    from vnaw.cluster import RayOptions
    from vnaw.faces.detectors import make_detector
    from vnaw.faces.video import find_videos, skipped_files
    from vnaw.files import output_lock
    from vnaw.inference.batch import Batch, default_threads
    from vnaw.inference.jobs import PredictOptions, calibration_for, model_for
    from vnaw.inference.submission import read_test_list
    from vnaw.shards import lock_name

    # The encoder runs beside detection and decoding (vnaw.inference.predict): half the cores
    # each (of a Ray task's CPUs with --ray); more encoder threads than that only fight
    # the face models' for the same cores.
    threads = args.threads or default_threads(args.ray_cpus if args.ray else None)
    opts = PredictOptions.from_args(args, threads)
    # With --ray the tasks load the model where they run; here it is only checked (on the CPU:
    # this node need not have the GPU the tasks ask for).
    model = model_for(replace(opts, device="cpu") if args.ray and args.device == "cuda" else opts)
    if args.verbose:
        print(f"predict: {model.description}", file=sys.stderr)
    make_detector(args.detector, args.detector_weights, opts.face_config).close()  # fails early
    if is_live(args):  # --baseline PATH: its baselines read before the source is opened
        return predict_live(args, out, model, opts.face_config, calibration_for(opts, model))
    videos = find_videos(args.input)
    if not videos:
        raise FileNotFoundError(2, "no video or image files found", args.input)
    if skipped := skipped_files(args.input):
        names = ", ".join(str(p.relative_to(args.input)) for p in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        print(
            f"predict: skipped {len(skipped)} file(s) that are not videos or images: {names}{more}",
            file=sys.stderr,
        )
    # The test list is read now: a bad one fails before the videos are processed, not after.
    test_list = read_test_list(args.abaw_test_list) if args.abaw_test_list else None
    calibration_for(opts, model)  # --baseline PATH: read now (and kept), a bad one fails first
    root = Path(args.input) if Path(args.input).is_dir() else None
    ray = RayOptions.from_args(args, gpus=float(args.device == "cuda")) if args.ray else None
    batch = Batch(
        model,
        out,
        opts,
        root,
        shard=args.shard,
        ray=ray,
        overwrite=args.overwrite,
        quiet=args.quiet,
    )
    # Taken once every input is checked: a refused command leaves no output folder behind. Each
    # shard has its own lock: shards write disjoint files and run side by side.
    with output_lock(out, lock_name("predict", args.shard)):
        batch.run(videos)
        if test_list is not None:
            _write_submission(test_list, args.abaw_test_list, batch.preds, out, batch.written)
    print(batch.final_line(), file=sys.stderr)
    return 1 if batch.failures else 0


def _merge(args: argparse.Namespace, out: Path) -> int:
    """``vnaw predict --merge OUT [VIDEO_OR_DIR]``: the batch files from the shards' records."""
    from vnaw.faces.video import find_videos
    from vnaw.files import output_lock
    from vnaw.inference.jobs import merge, record_preds, write_batch_files
    from vnaw.inference.outputs import output_keys
    from vnaw.inference.submission import read_test_list
    from vnaw.shards import relpath

    keys = None
    if args.input is not None:  # check that every video of the folder is finished
        videos = find_videos(args.input)
        root = Path(args.input) if Path(args.input).is_dir() else None
        keys = {relpath(v, root): k for v, k in output_keys(videos, root).items()}
    test_list = read_test_list(args.abaw_test_list) if args.abaw_test_list else None
    if not out.is_dir():  # before the lock, which would make it
        raise FileNotFoundError(2, "no such output folder (--merge)", str(out))
    with output_lock(out, "predict"):
        records, missing = merge(out, keys)
        if missing:
            raise VnawError(
                f"{out}: {len(missing)} video(s) of {args.input} not finished yet "
                f"({', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}): run their "
                "shards (again), then merge"
            )
        written = write_batch_files(out, records)
        if test_list is not None:
            _write_submission(test_list, args.abaw_test_list, record_preds(records), out, written)
    names = ", ".join(p.name for p in written)
    print(f"predict: merged {len(records)} video(s); wrote {names} in {out}", file=sys.stderr)
    return 0


def _write_submission(test_list: list, source: str, preds: dict, out: Path, written: list) -> None:
    from vnaw.files import atomic_text
    from vnaw.inference.submission import submission_lines

    lines = submission_lines(test_list, preds, source)
    written.append(atomic_text(out / "submission.txt", "\n".join(lines) + "\n"))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="per-frame expression probabilities for raw videos (design §8)",
        description="Raw video → per-frame expression probabilities: decode, detect, track and "
        "align faces, image encoder, temporal model (or, without --model, the shipped encoder's "
        "probabilities smoothed over time). Writes per video OUT/<name>.csv (one row per frame "
        "and face; empty probabilities where no face was found), <name>_timeline.png, and "
        "OUT/summary.csv. In a folder, <name> is the video's path relative to it, without its "
        "extension (cam1/clip.mp4 → OUT/cam1/clip.csv). A camera (/dev/video0, "
        "avfoundation:0, dshow:video=NAME), a stream URL (rtsp, rtmp, http(s), udp, tcp, srt) "
        "or - (standard input) is analysed live: frames are skipped rather than falling "
        "behind, and the table, summary and timeline are written as it plays.",
    )
    p.add_argument(
        "input",
        metavar="SOURCE",
        nargs="?",
        help="a video (or image) file, a folder, a camera, a stream URL or - (stdin) (with "
        "--merge: optional, a folder whose videos must all be finished)",
    )
    p.add_argument(
        "--model",
        metavar="RUN_OR_CHECKPOINT",
        help="trained run (directory or .ckpt), or its `vnaw export` .onnx (no PyTorch needed); "
        "default: the shipped encoder, smoothed",
    )
    p.add_argument(
        "--encoder",
        metavar="FILE",
        help="without --model: this image encoder (e.g. RUN/encoder of `vnaw pretrain`, a "
        "fine-tune on your own faces) instead of the shipped one, smoothed the same way",
    )
    p.add_argument("--out", default="predictions", metavar="DIR", help="output folder")
    p.add_argument(
        "--format", default="csv", choices=("csv", "parquet", "json"), help="table format"
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where the model runs (auto: a trained model on a GPU when one is usable; the "
        "shipped encoder runs with ONNX Runtime on the CPU unless cuda is asked for)",
    )
    p.add_argument(
        "--overlay", action="store_true", help="also write an annotated copy of the video"
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="also write a self-contained HTML page per video (and index.html for a folder)",
    )
    p.add_argument(
        "--abaw-test-list", metavar="FILE", help="write the ABAW submission file (design §3.1)"
    )
    p.add_argument(
        "--baseline",
        default="auto",
        metavar="auto|none|PATH",
        help="person-relative scores (rel_* columns) beside the raw ones: auto = each face's "
        "baseline from its own most neutral frames (default); PATH = a neutral recording or "
        "images of the person(s) (faces matched left to right, or a .csv of 'track,path' lines); "
        "none = raw scores only",
    )
    add_detector_arguments(p)
    add_live_arguments(p)
    p.add_argument("--chunk", type=int, default=64, help="frames per streaming chunk")
    p.add_argument(
        "--threads", type=int, default=0, help="encoder threads (0 = half the CPU cores)"
    )
    p.add_argument("--overwrite", action="store_true", help="redo videos already finished")
    add_scale_arguments(
        p, cpus=2, cpus_help="CPUs each video's task declares (the encoder gets half)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with a bare --ray: videos processed at once by the local Ray instance",
    )
    p.add_argument(
        "--merge",
        metavar="OUT",
        help="build OUT/summary.csv and OUT/index.html (and the submission, with "
        "--abaw-test-list) from the finished videos in OUT, e.g. after all --shard jobs",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show the model used and the native "
        "libraries' log lines",
    )  # fmt: skip
    p.set_defaults(func=_cmd_predict)
