"""``vnaw extract --data ROOT --out STORE``: cache per-frame encoder features (:mod:`vnaw.features`)."""

from __future__ import annotations

import argparse
import os

from vnaw.cli.data import ANNOTATIONS_HELP
from vnaw.cli.faces import shard_arg


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _cmd_extract(args: argparse.Namespace) -> int:
    import torch

    from vnaw.data.affwild2 import index_dataset
    from vnaw.features.extract import extract
    from vnaw.features.store import EraseSpec, shard
    from vnaw.models.frame_encoder import load_encoder
    from vnaw.shards import take_shard

    rank = args.rank if args.rank is not None else _env_int("RANK", 0)
    world = args.world_size if args.world_size is not None else _env_int("WORLD_SIZE", 1)
    device = args.device
    if device == "auto":
        local = _env_int("LOCAL_RANK", 0)
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    records = index_dataset(args.data, annotations=args.annotations, skip_bad=args.skip_bad)
    encoder = load_encoder(
        args.encoder,
        args.weights,
        random_init=args.random_init,
        input_size=args.input_size,
        channels=args.channels,
        seed=args.seed,
    )
    erase = EraseSpec(args.erased_views, args.erase_ratio, args.erase_mode, args.seed)
    done = extract(
        records,
        args.out,
        encoder,
        erase=erase,
        batch_size=args.batch_size,
        num_workers=args.workers,
        device=device,
        rank=rank,
        world_size=world,
        progress=not args.quiet,
        skip_bad=args.skip_bad,
        job_shard=args.shard,
    )
    mine = len(shard(take_shard(records, args.shard, lambda r: r.name), rank, world))
    print(
        f"rank {rank}/{world}: extracted {len(done)} videos, {mine - len(done)} already done or "
        "skipped; "
        f"encoder {encoder.name} ({encoder.meta.feature_size}-d, weights {encoder.weights_hash}) "
        f"-> {args.out}"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``vnaw extract``."""
    p = subparsers.add_parser(
        "extract", help="cache per-frame encoder features of an Aff-Wild2-layout data set"
    )
    p.add_argument("--data", required=True, help="Aff-Wild2 release root")
    p.add_argument("--annotations", help=ANNOTATIONS_HELP)
    p.add_argument("--out", required=True, help="feature store folder (created; reruns resume)")
    p.add_argument(
        "--encoder",
        default="default",
        help="'default' (shipped encoder), an encoder file (.safetensors/.json pair), or a timm name",
    )
    p.add_argument(
        "--weights", help="weights for a timm name (.safetensors, or a torch state dict)"
    )
    p.add_argument(
        "--random-init", action="store_true", help="allow a timm encoder without weights"
    )
    p.add_argument(
        "--input-size", type=int, help="input side for a timm name (default: its config)"
    )
    p.add_argument(
        "--channels", type=int, default=3, choices=(1, 3), help="input channels for a timm name"
    )
    p.add_argument(
        "--erased-views", type=int, default=0, help="K erased versions per video (design §7.1)"
    )
    p.add_argument("--erase-ratio", type=float, default=0.2)
    p.add_argument("--erase-mode", choices=("pixels", "rectangle"), default="pixels")
    p.add_argument(
        "--seed", type=int, default=0, help="seeds the erase masks (and a random-init encoder)"
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers"
    )
    p.add_argument(
        "--device", default="auto", help="'auto' (cuda:LOCAL_RANK if available), 'cpu', 'cuda:0', …"
    )
    p.add_argument("--rank", type=int, help="this process's share (default: env RANK or 0)")
    p.add_argument(
        "--world-size", type=int, help="number of processes (default: env WORLD_SIZE or 1)"
    )
    p.add_argument(
        "--shard",
        type=shard_arg,
        metavar="K/N",
        help="only this job's share (K of N) of the videos: a stable split by hashed video name, "
        "for the N jobs of a scheduler's array; each job may itself run as several ranks",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="warn about and skip bad videos (bad annotation, unreadable crop)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_extract)
