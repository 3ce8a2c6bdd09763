"""``vnaw evaluate RUN --data ROOT --split NAME`` — whole-video evaluation (SPEC §8).

For each video of the split: overlapping ``P``-frame windows (stride ``P/2`` by default), each
frame's probabilities averaged over the windows that cover it, frames without a face crop filled
from the nearest frame with one (:func:`vnaw.inference.predict_video`); then per-class F1 and
macro-F1 pooled over all frames of all videos (Eq. 13–15). Writes into ``--out`` (default
``RUN/eval-<split>``):

* ``predictions.csv`` — one row per frame: video, frame (1-based), label, face_found, the 8
  probabilities, pred, pred_index, ambiguity;
* ``metrics.md`` / ``metrics.json`` — per-class F1 and macro-F1 (Table 1 column order), against the
  annotated labels and, for synthetic data, against the clean labels too;
* ``confusion.png``, ``timeline_<video>.png`` for a few videos, ``naw_weights.png``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file
from tqdm import tqdm

from vnaw.config import RunConfig, load_config
from vnaw.data.affwild2 import VideoRecord, clean_records, index_dataset, records_by_name
from vnaw.data.splits import load_splits, official_split
from vnaw.inference import ambiguity, predict_video
from vnaw.labels import CLASSES
from vnaw.metrics import confusion_matrix, f1_from_confusion
from vnaw.plots import plot_confusion, plot_timeline, plot_weight_histogram
from vnaw.tables import ResultRow, to_json, to_markdown
from vnaw.temporal import TemporalEncoder
from vnaw.train import CONFIG_FILE, MODEL_FILE


@dataclass
class LoadedRun:
    cfg: RunConfig
    model: TemporalEncoder
    run_dir: Path


def load_run(path: str | Path, map_location: str = "cpu") -> LoadedRun:
    """A trained temporal model from a run directory (``model.safetensors`` + ``config.yaml``) or
    a Lightning checkpoint inside one (``checkpoints/*.ckpt``, loaded with ``weights_only``)."""
    path = Path(path)
    if path.is_dir():
        run_dir, weights = path, path / MODEL_FILE
    elif path.suffix == ".ckpt":
        run_dir, weights = path.parent.parent, path
    else:
        raise FileNotFoundError(f"{path}: not a run directory or a .ckpt checkpoint")
    if not (run_dir / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{run_dir / CONFIG_FILE}: missing; is {path} a vnaw run?")
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: missing (has the run finished an epoch?)")
    cfg = load_config(run_dir / CONFIG_FILE)
    if weights.suffix == ".ckpt":
        ckpt = torch.load(weights, map_location=map_location, weights_only=True)
        state = {
            k.removeprefix("model."): v
            for k, v in ckpt["state_dict"].items()
            if k.startswith("model.")
        }
    else:
        state = load_file(str(weights), device=map_location)
    model = TemporalEncoder(cfg.model)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(
            f"{weights}: weights do not fit the model in {CONFIG_FILE}: {err}"
        ) from None
    return LoadedRun(cfg, model.eval(), run_dir)


def split_videos(root: str | Path, split: str, folds_file: str | None = None) -> list[VideoRecord]:
    """Records to evaluate: ``official``/``Validation_Set``, ``Train_Set``, or a fold's test set."""
    records = index_dataset(root)
    if split in ("official", "Validation_Set"):
        names = official_split(records).test
    elif split == "Train_Set":
        names = official_split(records).train
    else:
        if folds_file is None:
            raise ValueError(f"split {split!r} needs --folds FILE")
        folds = {s.name: s for s in load_splits(folds_file)}
        if split not in folds:
            raise ValueError(f"{folds_file} has no split {split!r}; it has {', '.join(folds)}")
        names = folds[split].test
    by_name = records_by_name(records)
    if not names:
        raise ValueError(f"split {split!r} of {root} holds no video")
    return [by_name[n] for n in names]


def evaluate(
    run: LoadedRun,
    records: list[VideoRecord],
    store,
    out_dir: Path,
    *,
    stride: int | None = None,
    clean: dict[str, VideoRecord] | None = None,
    timelines: int = 3,
    progress: bool = True,
) -> dict:
    """Predict every frame of ``records``, write the outputs, return the metrics dict."""
    out_dir.mkdir(parents=True, exist_ok=True)
    p = run.cfg.data.clip_length
    stride = stride if stride is not None else run.cfg.data.eval_stride
    frames: list[pd.DataFrame] = []
    for i, rec in enumerate(tqdm(records, desc="evaluate", unit="video", disable=not progress)):
        if not rec.has_crop.any():
            continue  # no face anywhere: nothing to predict from (reported by `data stats`)
        probs = predict_video(run.model, store.features(rec.name), rec.has_crop, p, stride)
        df = pd.DataFrame(probs, columns=list(CLASSES))
        df.insert(0, "face_found", rec.has_crop.astype(int))
        df.insert(0, "label", rec.labels)
        if clean is not None:
            df.insert(1, "clean_label", clean[rec.name].labels)
        df.insert(0, "frame", np.arange(1, rec.num_frames + 1))
        df.insert(0, "video", rec.name)
        df["pred_index"] = probs.argmax(axis=1)
        df["pred"] = [CLASSES[k] for k in df["pred_index"]]
        df["ambiguity"] = ambiguity(probs)
        frames.append(df)
        if i < timelines:
            plot_timeline(
                probs,
                out_dir / f"timeline_{rec.name}.png",
                labels=rec.labels,
                face_found=rec.has_crop,
                title=rec.name,
            )
    if not frames:
        raise ValueError("no video of the split has a face crop")
    table = pd.concat(frames, ignore_index=True)
    tmp = out_dir / ".predictions.csv.tmp"
    table.to_csv(tmp, index=False, float_format="%.6f")
    tmp.replace(out_dir / "predictions.csv")

    metrics: dict = {}
    rows = []
    targets = {"labels": "label"} | ({"clean labels": "clean_label"} if clean else {})
    for name, column in targets.items():
        cm = confusion_matrix(table[column].to_numpy(), table["pred_index"].to_numpy())
        per_class = f1_from_confusion(cm)
        metrics[name] = {
            "per_class_f1": dict(zip(CLASSES, (100 * per_class).round(2).tolist(), strict=True)),
            "macro_f1": round(100 * float(per_class.mean()), 2),
            "frames": int(cm.sum()),
        }
        rows.append(ResultRow(f"vs {name}", [per_class]))
        if column == "label":
            plot_confusion(cm, out_dir / "confusion.png")
    (out_dir / "metrics.md").write_text(to_markdown(rows, first_column="Evaluation"))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out_dir / "table.json").write_text(to_json(rows))
    weights = run.run_dir / "naw_weights.npy"
    if weights.is_file():
        plot_weight_histogram(np.load(weights), out_dir / "naw_weights.png")
    return metrics


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from vnaw.features import FeatureStore, check_store

    run = load_run(args.run)
    records = split_videos(args.data, args.split, args.folds or run.cfg.data.folds_file)
    store_path = args.features or run.cfg.data.features
    if store_path is None:
        raise SystemExit("no feature store: pass --features STORE (written by `vnaw extract`)")
    clean = clean_records(args.data)
    out = Path(args.out) if args.out else run.run_dir / f"eval-{args.split}"
    store = FeatureStore(store_path)
    check_store(store, records)
    metrics = evaluate(run, records, store, out, stride=args.stride, clean=clean)
    print((out / "metrics.md").read_text())
    for name, m in metrics.items():
        print(f"macro-F1 vs {name}: {m['macro_f1']:.2f} % over {m['frames']} frames")
    print(f"predictions, metrics and plots in {out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="whole-video evaluation of a trained run (per-class F1, macro-F1, plots)",
        description="Predict every frame of a split with overlapping windows and score it (SPEC §8).",
    )
    p.add_argument("run", help="run directory or a checkpoint inside it")
    p.add_argument("--data", required=True, help="Aff-Wild2-layout dataset root")
    p.add_argument("--split", default="official", help="official, Train_Set, or a fold name")
    p.add_argument("--folds", help="folds JSON (for fold splits)")
    p.add_argument("--features", help="feature store (default: the run's data.features)")
    p.add_argument("--stride", type=int, help="window stride (default: the run's, or P/2)")
    p.add_argument("--out", help="output folder (default: RUN/eval-SPLIT)")
    p.set_defaults(func=_cmd_evaluate)
