"""``vnaw predict VIDEO_OR_DIR``: raw videos → per-frame expression probabilities (design §8).

Quiet by default: a progress bar, warnings that matter (no face, a truncated file, an unreadable
video in a batch) and one final line saying what was written. Exit status: 0 when every video was
read (with or without a face), 1 when some video of a folder could not be read, 2 for a user
error (the CLI's error boundary).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from vnaw.cli.faces import add_detector_arguments


def _check_out(out: Path) -> None:
    """Refuse an output that is not a folder before any work."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder (--out)", str(out))


def _cmd_predict(args: argparse.Namespace) -> int:
    from vnaw.inference.quiet import native_stderr_silenced
    from vnaw.inference.table import check_format

    out = Path(args.out)
    _check_out(out)
    check_format(args.format)
    with native_stderr_silenced(not args.verbose):
        return _predict_all(args, out)


def _predict_all(args: argparse.Namespace, out: Path) -> int:
    from vnaw.faces.detectors import make_detector
    from vnaw.faces.types import FaceConfig
    from vnaw.faces.video import find_videos
    from vnaw.files import output_lock
    from vnaw.inference.analyze import load_model
    from vnaw.inference.batch import Batch
    from vnaw.inference.submission import read_test_list

    # The encoder runs beside detection and decoding (vnaw.inference.predict): half the cores
    # each; more encoder threads than that only fight MediaPipe's for the same cores.
    threads = args.threads or max(1, len(os.sched_getaffinity(0)) // 2)
    model = load_model(args.model, args.device, threads=threads, encoder=args.encoder)
    if args.verbose:
        print(f"predict: {model.description}", file=sys.stderr)
    face_config = FaceConfig(max_faces=args.max_faces, detect_every=args.detect_every)
    make_detector(args.detector, args.detector_weights, face_config).close()  # fails early
    videos = find_videos(args.input)
    if not videos:
        raise FileNotFoundError(2, "no video files found", args.input)
    # The test list is read now: a bad one fails before the videos are processed, not after.
    test_list = read_test_list(args.abaw_test_list) if args.abaw_test_list else None
    root = Path(args.input) if Path(args.input).is_dir() else None
    batch = Batch(model, out, args, face_config, root)
    # Taken once every input is checked: a refused command leaves no output folder behind.
    with output_lock(out, "predict"):
        batch.run(videos)
        if test_list is not None:
            _write_submission(test_list, args.abaw_test_list, batch, out / "submission.txt")
    print(batch.final_line(), file=sys.stderr)
    return 1 if batch.failures else 0


def _write_submission(test_list: list, source: str, batch, path: Path) -> None:
    from vnaw.files import atomic_text
    from vnaw.inference.submission import submission_lines

    lines = submission_lines(test_list, batch.preds, source)
    atomic_text(path, "\n".join(lines) + "\n")
    batch.written.append(path)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="per-frame expression probabilities for raw videos (design §8)",
        description="Raw video → per-frame expression probabilities: decode, detect, track and "
        "align faces, image encoder, temporal model (or, without --model, the shipped encoder's "
        "probabilities smoothed over time). Writes per video OUT/<name>.csv (one row per frame "
        "and face; empty probabilities where no face was found), <name>_timeline.png, and "
        "OUT/summary.csv. In a folder, <name> is the video's path relative to it, without its "
        "extension (cam1/clip.mp4 → OUT/cam1/clip.csv).",
    )
    p.add_argument("input", metavar="VIDEO_OR_DIR", help="a video (or image) file or a folder")
    p.add_argument(
        "--model",
        metavar="RUN_OR_CHECKPOINT",
        help="trained run (directory or .ckpt); default: the shipped encoder, smoothed",
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
    add_detector_arguments(p)
    p.add_argument("--chunk", type=int, default=64, help="frames per streaming chunk")
    p.add_argument(
        "--threads", type=int, default=0, help="encoder threads (0 = half the CPU cores)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show the model used and the native "
        "libraries' log lines (MediaPipe, TFLite)",
    )  # fmt: skip
    p.set_defaults(func=_cmd_predict)
