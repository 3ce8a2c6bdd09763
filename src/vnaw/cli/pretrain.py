"""``vnaw pretrain [CONFIG] [KEY=VALUE …]``: NLA pretraining of the image encoder
(:mod:`vnaw.training.pretrain`), configured as ``vnaw train`` is; with its ``evaluate`` and
``export`` actions (``vnaw pretrain evaluate …``)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

DEPRECATED = (
    "vnaw pretrain: warning: --config and --set are deprecated and go in the next release; "
    "write `vnaw pretrain CONFIG KEY=VALUE …`"
)


def _config_and_overrides(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """CONFIG and KEY=VALUE words; the deprecated ``--config``/``--set`` still count (a line on
    stderr says so)."""
    from vnaw.errors import ConfigError

    config, overrides = args.config, list(args.overrides)
    if args.old_config is not None or args.set:
        print(DEPRECATED, file=sys.stderr)
    if args.old_config is not None:
        if config is not None and "=" not in config:
            raise ConfigError(f"two configs: {config} and --config {args.old_config}; give one")
        if config is not None:  # a KEY=VALUE in CONFIG's place
            overrides.insert(0, config)
        config = args.old_config
    return config, [*overrides, *(args.set or [])]


# A configuration override (optim.lr=0.1); a data spec starts with its reader (ferplus:PATH).
_OVERRIDE = re.compile(r"[A-Za-z_][\w.]*=")


def _cmd_train(args: argparse.Namespace) -> int:
    config, overrides = _config_and_overrides(args)
    for key, words in (("data.train", args.data), ("data.val", args.val), ("data.test", args.test)):
        if words:  # KEY=VALUE words after `--data READER:PATH …` land in its list
            specs = [w for w in words if not _OVERRIDE.match(w)]
            overrides += [w for w in words if _OVERRIDE.match(w)]
            overrides.append(f"{key}=[{','.join(repr(s) for s in specs)}]")
    for key, value in (
        ("optim.epochs", args.epochs),
        ("loss.kind", args.loss),
        ("data.label_noise", args.label_noise),
        ("data.noise_seed", args.noise_seed),
        ("trainer.out_dir", args.out),
        ("trainer.devices", args.devices),
        ("trainer.num_nodes", args.num_nodes),
        ("trainer.threads", args.threads),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.balanced:
        overrides.append("data.balanced=true")
    from vnaw.models.encoder import encoder_paths
    from vnaw.training.pretrain import finished_pretrain, run_pretrain
    from vnaw.training.pretrain_config import load_pretrain_args

    cfg = load_pretrain_args(config, overrides)
    resume = args.resume
    if resume == "last":
        resume = str(Path(cfg.trainer.out_dir) / "checkpoints" / "last.ckpt")
    done = finished_pretrain(cfg, resume)
    if done:  # --resume on a finished run: say so, train nothing
        print(done)
        return 0
    results = run_pretrain(cfg, resume=resume)
    print(f"encoder: {encoder_paths(Path(cfg.trainer.out_dir) / 'encoder')[0]}")
    return 0 if results else 1


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from vnaw.data.static import read_spec
    from vnaw.evaluation.classifier import (
        evaluate_classifier,
        format_report,
        metrics_from_predictions,
    )
    from vnaw.models.encoder import ImageClassifier
    from vnaw.training.pretrain_data import load_images

    model = ImageClassifier.load(args.encoder)
    if args.threads:
        torch.set_num_threads(args.threads)
    all_labels, all_preds = [], []
    for spec in args.data:
        imgs = read_spec(spec, args.split)
        pixels = load_images(imgs.paths, model.meta.input_size, model.meta.channels)
        res = evaluate_classifier(model, pixels, imgs.labels, flip=args.flip)
        print(format_report(res, spec))
        cm = np.array(res["confusion"])
        # Rebuild (true, pred) pairs from the confusion matrix to pool several specs.
        t, p = np.nonzero(cm)
        all_labels.append(np.repeat(t, cm[t, p]))
        all_preds.append(np.repeat(p, cm[t, p]))
    if len(args.data) > 1:
        combined = metrics_from_predictions(np.concatenate(all_labels), np.concatenate(all_preds))
        print(format_report(combined, "all"))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from vnaw.training.pretrain import export_encoder

    w, m = export_encoder(args.checkpoint, args.out, half=args.half)
    if not args.onnx:
        print(f"wrote {w} and {m}")
        return 0
    from vnaw.inference.export import export_encoder_onnx

    print(f"wrote {w}, {m} and {export_encoder_onnx(w, half=args.half)}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``vnaw pretrain`` (train) with its ``evaluate`` and ``export`` actions."""
    p = subparsers.add_parser(
        "pretrain",
        help="NLA pretraining of the image encoder on static FER sets (design §5)",
        description="Train the image encoder (timm trunk + 8-class head) with the NLA loss or CE. "
        "CONFIG is a YAML file or a shipped config (demo_pretrain, pretrain_swin); KEY=VALUE pairs "
        "override it, e.g. optim.lr=0.05 model.backbone=resnet18. Data specs: ferplus:PATH, "
        "rafdb:PATH, affectnet:PATH, folder:PATH, affwild2:PATH, optionally reader@split:PATH.",
        epilog="actions: `vnaw pretrain evaluate -h` (score an encoder), `vnaw pretrain export -h` "
        "(a checkpoint as an encoder file)",
    )
    p.add_argument("config", nargs="?", help="YAML configuration (default: built-in defaults)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides")
    p.add_argument("--data", nargs="+", help="training data specs (any mix): data.train")
    p.add_argument("--val", nargs="+", help="validation specs (default: derived from --data)")
    p.add_argument("--test", nargs="+", help="test specs (default: derived from --data)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--loss", choices=["nla", "ce"])
    p.add_argument("--label-noise", type=float, help="fraction of symmetric label noise to inject")
    p.add_argument("--noise-seed", type=int)
    p.add_argument("--balanced", action="store_true", help="class-balanced sampling")
    p.add_argument("--out", help="run directory (trainer.out_dir)")
    p.add_argument(
        "--resume",
        nargs="?",
        const="last",
        help="resume from a checkpoint (default: the run's last.ckpt)",
    )
    p.add_argument("--devices", help="Lightning devices: auto, N, or a list 0,1")
    p.add_argument("--num-nodes", type=int, help="nodes for DDP")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    # Deprecated spellings of CONFIG and KEY=VALUE, kept for one release.
    p.add_argument("--config", dest="old_config", help=argparse.SUPPRESS)
    p.add_argument("--set", nargs="+", action="extend", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_train)

    ev = p.add_action(
        "evaluate", description="Accuracy and per-class/macro F1 of an encoder on image sets."
    )
    ev.add_argument(
        "--encoder", default="default", help="encoder file (.safetensors/.json/stem) or 'default'"
    )
    ev.add_argument("--data", nargs="+", required=True, help="data specs, e.g. ferplus:PATH")
    ev.add_argument("--split", default="test", choices=["train", "val", "test"])
    ev.add_argument("--threads", type=int, default=0)
    ev.add_argument(
        "--no-flip",
        dest="flip",
        action="store_false",
        help="score each image alone, not averaged with its mirror",
    )
    ev.set_defaults(func=_cmd_evaluate)

    ex = p.add_action("export", description="Write a checkpoint's classifier as an encoder pair.")
    ex.add_argument("--checkpoint", required=True)
    ex.add_argument(
        "--out", required=True, help="output stem (…/name → name.safetensors + name.json)"
    )
    ex.add_argument("--half", action="store_true", help="store fp16 weights (in the ONNX copy too)")
    ex.add_argument(
        "--onnx",
        action="store_true",
        help="also write name.onnx, the copy vnaw predict runs without PyTorch (ONNX Runtime)",
    )
    ex.set_defaults(func=_cmd_export)
