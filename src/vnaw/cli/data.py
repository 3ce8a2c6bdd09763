"""``vnaw data stats`` (design §3.1) and ``vnaw data synth`` (synthetic data, design §9)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ANNOTATIONS_HELP = (
    "the EXPR annotation folder holding Train_Set/ and Validation_Set/ (default: found under "
    "the root by content)"
)


def _cmd_stats(args: argparse.Namespace) -> int:
    from vnaw.data.affwild2 import find_layout, index_dataset
    from vnaw.data.stats import stats_table

    records = index_dataset(args.root, annotations=args.annotations, skip_bad=args.skip_bad)
    if args.check:  # open and decode every crop: a bad one is an error (or skipped, --skip-bad)
        from vnaw.data.check import checked_records

        records = checked_records(records, skip_bad=args.skip_bad)
        print(f"checked {sum(int(r.has_crop.sum()) for r in records)} crops: all readable")
    print(find_layout(Path(args.root), args.annotations).describe())
    print(stats_table(records))
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from vnaw.data.synth import SynthConfig, generate

    keys = ("seed", "videos", "frames", "size", "noise", "resting_share")
    given = {k: getattr(args, k) for k in keys}
    if args.resting_share is not None and not 0.0 <= args.resting_share <= 1.0:
        from vnaw.errors import ConfigError

        raise ConfigError(f"--resting-share must lie in [0, 1]; got {args.resting_share}")
    cfg = SynthConfig(
        **{k: v for k, v in given.items() if v is not None}, with_videos=args.with_videos
    )
    t0 = time.perf_counter()
    summary = generate(Path(args.out), cfg, progress=not args.quiet)
    dt = time.perf_counter() - t0
    print(
        f"wrote {summary['tracks']} annotated tracks, {summary['frames']} frames "
        f"({summary['crops']} crops) to {args.out} in {dt:.1f} s"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``vnaw data stats`` and ``vnaw data synth``."""
    data = subparsers.add_parser("data", help="inspect or generate Aff-Wild2-layout data")
    sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    st = sub.add_parser("stats", help="videos, frames, valid frames and classes per split")
    st.add_argument(
        "root", help="Aff-Wild2 EXPR root (Train_Set/, Validation_Set/, cropped_aligned/)"
    )
    st.add_argument("--skip-bad", action="store_true", help="warn about and skip bad videos")
    st.add_argument("--check", action="store_true", help="also open and decode every crop (slower)")
    st.add_argument("--annotations", help=ANNOTATIONS_HELP)
    st.set_defaults(func=_cmd_stats)

    sy = sub.add_parser("synth", help="write a synthetic data set in the exact Aff-Wild2 layout")
    sy.add_argument("out", help="output folder (created)")
    sy.add_argument("--seed", type=int, help="default 0")
    sy.add_argument("--videos", type=int, help="annotated face tracks (default 24)")
    sy.add_argument("--frames", type=int, help="mean frames per video (default 300)")
    sy.add_argument("--size", type=int, help="crop side in pixels (default 64)")
    sy.add_argument(
        "--noise", type=float, help="fraction of episodes given a wrong label (default 0.2)"
    )
    sy.add_argument(
        "--resting-share",
        dest="resting_share",
        type=float,
        help="share of each split's people whose resting face looks stern, sad, sour or amused "
        "(default 0.25; 0: every resting face neutral)",
    )
    sy.add_argument("--with-videos", action="store_true", help="also write raw .mp4 videos")
    sy.add_argument("--quiet", action="store_true", help="no progress bar")
    sy.set_defaults(func=_cmd_synth)
