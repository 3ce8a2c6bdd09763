"""``vnaw train [CONFIG] [KEY=VALUE …]``: train V-NAW (:mod:`vnaw.training.train`)."""

from __future__ import annotations

import argparse


def _cmd_train(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    for flag, key in (
        ("devices", "trainer.devices"),
        ("num_nodes", "trainer.num_nodes"),
        ("strategy", "trainer.strategy"),
        ("out", "out_dir"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.skip_bad:
        overrides.append("data.skip_bad=true")
    from vnaw.config import load_config_args
    from vnaw.errors import ConfigError
    from vnaw.training.checkpoints import first_process
    from vnaw.training.train import earlier_run, finished_run, train

    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite exclude each other: continue or start over")
    cfg = load_config_args(args.config, overrides)
    done = finished_run(cfg) if args.resume else None
    if done:  # --resume on a finished run: say so, train nothing
        print(done)
        return 0
    # The other DDP processes re-run this command line: only the first one checks.
    skip = args.resume or args.overwrite or not first_process()
    held = None if skip else earlier_run(cfg.out_dir)
    if held:  # never train over a run silently
        raise ConfigError(
            f"{cfg.out_dir}: holds {held}; use --resume to continue it, --overwrite to train a "
            "new run in its place, or another out_dir"
        )
    run_dir = train(cfg, resume=args.resume)
    print(f"run directory: {run_dir}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the V-NAW temporal model (features or end-to-end mode)",
        description="Train V-NAW. CONFIG is a YAML file (see configs/); KEY=VALUE pairs override it, "
        "e.g. loss.level=frame augment.erase=false optim.epochs=10.",
    )
    p.add_argument("config", nargs="?", help="YAML configuration file (default: built-in defaults)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides")
    p.add_argument(
        "--resume", action="store_true", help="continue from <out>/checkpoints/last.ckpt"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="train a new run in an out_dir that holds one (default: refuse)",
    )
    p.add_argument("--devices", help="devices per node: a count, a list like 0,1, or auto")
    p.add_argument("--num-nodes", dest="num_nodes", type=int, help="number of nodes (DDP)")
    p.add_argument("--strategy", help="Lightning strategy, e.g. ddp")
    p.add_argument("--out", help="run directory (overrides out_dir)")
    p.add_argument(
        "--skip-bad", action="store_true", help="warn about and skip bad videos (data.skip_bad)"
    )
    p.set_defaults(func=_cmd_train)
