"""``vnaw submit RUN --data ROOT --test-list FILE --out FILE``: the ABAW test-set submission from
the release's crops (:mod:`vnaw.inference.submit`)."""

from __future__ import annotations

import argparse


def _cmd_submit(args: argparse.Namespace) -> int:
    from vnaw.models.artifact import load_video_model

    model, _ = load_video_model(args.run)  # a wrong run fails before the heavy imports
    from vnaw.inference.submit import write_submission

    print(f"submit: {model.description}")
    rep = write_submission(
        model, args.data, args.test_list, args.out, fill=args.fill, progress=not args.quiet
    )
    if rep.filled_videos:
        print(
            f"submit: {len(rep.filled_videos)} listed video(s) without any crop were filled: "
            f"{', '.join(rep.filled_videos)}"
        )
    print(
        f"submit: wrote {args.out}: {rep.lines} lines, {rep.videos} videos, "
        f"{rep.filled_frames} listed frames without a crop took the nearest frame's prediction"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "submit",
        help="ABAW test-set submission file from the release's crops (design §3.1)",
        description="Predict every frame that the organisers' test-set example file lists, from "
        "the release's cropped_aligned* crops, with a trained run (features or end-to-end), and "
        "write the submission file in the list's order.",
    )
    p.add_argument("run", help="run directory (or a checkpoint inside it)")
    p.add_argument("--data", required=True, help="Aff-Wild2 release root (cropped_aligned*/)")
    p.add_argument("--test-list", required=True, help="the organisers' test-set example file")
    p.add_argument("--out", required=True, help="submission file to write")
    p.add_argument(
        "--fill",
        action="store_true",
        help="predict a listed video without any crop from its other track, else Neutral",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_submit)
