"""``vnaw data`` subcommands: ``stats`` (SPEC §3.1) and ``synth`` (SPEC §9)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from vnaw.data.affwild2 import SPLITS, DataError, VideoRecord, index_dataset
from vnaw.labels import CLASSES, IGNORE_INDEX, NUM_CLASSES


def stats_table(records: list[VideoRecord]) -> str:
    """Markdown table: per split, videos, frames, valid frames, frames with a crop, then the
    class distribution of valid frames (count and percent)."""
    head = ["split", "videos", "frames", "valid", "crops", *CLASSES]
    rows = []
    for split in [*SPLITS, "all"]:
        recs = [r for r in records if split in (r.split, "all")]
        if not recs:
            continue
        labels = np.concatenate([r.labels for r in recs])
        valid = labels[labels != IGNORE_INDEX]
        counts = np.bincount(valid, minlength=NUM_CLASSES)
        pct = 100.0 * counts / max(valid.size, 1)
        crops = sum(int(r.has_crop.sum()) for r in recs)
        cells = [f"{c} ({p:.1f}%)" for c, p in zip(counts, pct, strict=True)]
        rows.append([split, str(len(recs)), str(labels.size), str(valid.size), str(crops), *cells])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _cmd_stats(args: argparse.Namespace) -> int:
    try:
        records = index_dataset(args.root, skip_bad=args.skip_bad)
    except DataError as err:  # names file and line: print it, no traceback
        print(f"vnaw data stats: error: {err}", file=sys.stderr)
        return 2
    print(stats_table(records))
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from vnaw.data.synth import SynthConfig, generate

    cfg = SynthConfig(
        seed=args.seed,
        videos=args.videos,
        frames=args.frames,
        size=args.size,
        noise=args.noise,
        with_videos=args.with_videos,
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
    from vnaw.data.synth import SynthConfig

    data = subparsers.add_parser("data", help="inspect or generate Aff-Wild2-layout data")
    sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    st = sub.add_parser("stats", help="videos, frames, valid frames and classes per split")
    st.add_argument(
        "root", help="Aff-Wild2 EXPR root (Train_Set/, Validation_Set/, cropped_aligned/)"
    )
    st.add_argument("--skip-bad", action="store_true", help="warn about and skip bad videos")
    st.set_defaults(func=_cmd_stats)

    d = SynthConfig()
    sy = sub.add_parser("synth", help="write a synthetic data set in the exact Aff-Wild2 layout")
    sy.add_argument("out", help="output folder (created)")
    sy.add_argument("--seed", type=int, default=d.seed)
    sy.add_argument("--videos", type=int, default=d.videos, help="annotated face tracks")
    sy.add_argument("--frames", type=int, default=d.frames, help="mean frames per video")
    sy.add_argument("--size", type=int, default=d.size, help="crop side in pixels")
    sy.add_argument(
        "--noise", type=float, default=d.noise, help="fraction of episodes given a wrong label"
    )
    sy.add_argument("--with-videos", action="store_true", help="also write raw .mp4 videos")
    sy.add_argument("--quiet", action="store_true", help="no progress bar")
    sy.set_defaults(func=_cmd_synth)
