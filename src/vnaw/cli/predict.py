"""``vnaw predict VIDEO_OR_DIR``: raw videos → per-frame expression probabilities (design §8)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vnaw.cli.faces import add_detector_arguments


def _cmd_predict(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from vnaw.errors import VnawError
    from vnaw.faces.detectors import make_detector
    from vnaw.faces.types import FaceConfig
    from vnaw.faces.video import find_videos
    from vnaw.inference.outputs import write_outputs, write_overlay
    from vnaw.inference.predict import predict_file
    from vnaw.models.artifact import default_video_model, load_video_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_video_model(args.model)[0] if args.model else default_video_model()
    print(f"predict: {model.description}", file=sys.stderr)
    face_config = FaceConfig(max_faces=args.max_faces, detect_every=args.detect_every)
    make_detector(args.detector, args.detector_weights, face_config).close()  # fails early
    videos = find_videos(args.input)
    if not videos:
        raise FileNotFoundError(2, "no video files found", args.input)
    out = Path(args.out)
    note = "encoder only, smoothed" if model.temporal is None else "V-NAW"
    failures: list[str] = []
    preds = {}
    for v in tqdm(videos, desc="predict", unit="video", disable=len(videos) < 2 or args.quiet):
        try:
            res = predict_file(
                v,
                model,
                chunk=args.chunk,
                face_config=face_config,
                detector=args.detector,
                detector_weights=args.detector_weights,
            )
            write_outputs(res, out, note)
            if args.overlay:
                write_overlay(v, res, out / f"{res.video}_overlay.mp4")
        except (VnawError, OSError) as err:  # one bad video does not stop the batch
            failures.append(str(err))
            tqdm.write(f"predict: FAILED {err}", file=sys.stderr)
            continue
        for tr in res.tracks:
            preds[tr.name] = tr.probs.argmax(axis=1)
        if not args.quiet:
            n, total = len(res.times), sum(res.timings.values())
            tqdm.write(
                f"predict: {res.video}: {n} frames, tracks {[t.name for t in res.tracks]}, "
                f"{n / max(total, 1e-9):.0f} frames/s",
                file=sys.stderr,
            )
    if args.abaw_test_list:
        _write_submission(args.abaw_test_list, preds, out / "submission.txt")
    if failures:
        print(f"predict: {len(failures)} of {len(videos)} video(s) failed", file=sys.stderr)
        return 1
    return 0


def _write_submission(test_list: str, preds: dict, path: Path) -> None:
    from vnaw.files import atomic_text
    from vnaw.inference.submission import read_test_list, submission_lines

    lines = submission_lines(read_test_list(test_list), preds, test_list)
    atomic_text(path, "\n".join(lines) + "\n")
    print(f"predict: wrote {path} ({len(lines) - 1} frames)", file=sys.stderr)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="per-frame expression probabilities for raw videos (design §8)",
        description="Raw video → per-frame expression probabilities: decode, detect, track and "
        "align faces, image encoder, temporal model (or, without --model, the shipped encoder's "
        "probabilities smoothed over time). Writes <track>.csv and <track>_timeline.png per face.",
    )
    p.add_argument("input", metavar="VIDEO_OR_DIR", help="a video file or a folder of videos")
    p.add_argument(
        "--model",
        metavar="RUN_OR_CHECKPOINT",
        help="trained run (directory or .ckpt); default: the shipped encoder, smoothed",
    )
    p.add_argument("--out", default="predictions", metavar="DIR", help="output folder")
    p.add_argument(
        "--overlay", action="store_true", help="also write an annotated copy of the video"
    )
    p.add_argument(
        "--abaw-test-list", metavar="FILE", help="write the ABAW submission file (design §3.1)"
    )
    add_detector_arguments(p)
    p.add_argument("--chunk", type=int, default=64, help="frames per streaming chunk")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_predict)
