"""``vnaw train CONFIG [key=value …]`` — V-NAW training (design §7) through Lightning.

Builds the objects (configuration, frame source, data, module, trainer) and hands them to
``Trainer.fit``; the per-step work is in :mod:`vnaw.training.module`. A run directory holds:

* ``config.yaml`` — the fully resolved configuration;
* ``checkpoints/best.ckpt`` (by validation macro-F1) and ``checkpoints/last.ckpt``;
* ``metrics.csv`` and ``training.png`` (loss and validation F1 per epoch);
* ``model.safetensors``, ``encoder.json`` (and ``encoder.safetensors`` when the run fine-tuned the
  encoder) — the best epoch's video model, as :mod:`vnaw.models.artifact` reads it for ``vnaw
  evaluate`` / ``predict`` / ``export``;
* ``naw_weights.npy`` — the NAW weights of the training samples in the best epoch.

``--resume`` continues a killed run from ``checkpoints/last.ckpt`` with the saved configuration.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from vnaw.config import RunConfig, load_config, save_config
from vnaw.data.datamodule import (
    ClipDataModule,
    FeatureSource,
    ImageSource,
    SplitRecords,
    split_records,
)
from vnaw.errors import ConfigError
from vnaw.files import atomic_write, load_torch
from vnaw.models.artifact import CONFIG_FILE, save_run_model
from vnaw.training.module import VNAWModule


def resolve_precision(cfg: RunConfig) -> str:
    """``auto`` → bf16 mixed precision on a CUDA GPU, full fp32 elsewhere."""
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    wants_gpu = cfg.trainer.accelerator in ("auto", "gpu", "cuda")
    return "bf16-mixed" if wants_gpu and torch.cuda.is_available() else "32-true"


def _devices(value: str) -> int | list[int] | str:
    if value == "auto":
        return value
    if "," in value:
        return [int(v) for v in value.split(",") if v]
    return int(value)


def build(
    cfg: RunConfig, records: SplitRecords | None = None, store=None
) -> tuple[VNAWModule, ClipDataModule]:
    """Module and data for a configuration (features or end-to-end mode)."""
    if cfg.mode == "features":
        if records is None:
            records = split_records(cfg)
        if store is None:
            from vnaw.features.store import FeatureStore, check_store

            if cfg.data.features is None:
                raise ConfigError("mode=features needs data.features (a store from `vnaw extract`)")
            store = FeatureStore(cfg.data.features)
            check_store(store, records.train + records.val)
        cfg.model.feature_dim = store.feature_size
        views = store.erased_views if cfg.augment.erase else 0
        if cfg.augment.erase and not views:
            warnings.warn(
                f"augment.erase is on but the store {cfg.data.features} holds no erased views "
                "(vnaw extract --erased-views K): training without in-frame erasing",
                stacklevel=2,
            )
        data = ClipDataModule(cfg, FeatureSource(store), erased_views=views, records=records)
        return VNAWModule(cfg, encoder_identity=store.encoder), data
    from vnaw.models.frame_encoder import DEFAULT_NAME, load_encoder

    encoder = load_encoder(cfg.encoder.name or DEFAULT_NAME)
    cfg.model.feature_dim = encoder.meta.feature_size
    data = ClipDataModule(cfg, ImageSource(encoder.meta), key="images", records=records)
    return VNAWModule(cfg, encoder=encoder), data


def train(
    cfg: RunConfig,
    *,
    resume: bool = False,
    records: SplitRecords | None = None,
    store=None,
    callbacks: list | None = None,
) -> Path:
    """Train one run; returns its directory. ``store`` overrides ``data.features`` (tests)."""
    run_dir = Path(cfg.out_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    if resume and (run_dir / CONFIG_FILE).is_file():
        cfg = load_config(run_dir / CONFIG_FILE)  # a resumed run keeps its own configuration
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    module, data = build(cfg, records, store)
    save_config(cfg, run_dir / CONFIG_FILE)
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor="val_f1",
        mode="max",
        save_last=True,
        enable_version_counter=False,
    )
    trainer = L.Trainer(
        max_epochs=cfg.optim.epochs,
        accelerator=cfg.trainer.accelerator,
        devices=_devices(cfg.trainer.devices),
        num_nodes=cfg.trainer.num_nodes,
        strategy=cfg.trainer.strategy,
        precision=resolve_precision(cfg),
        deterministic=cfg.trainer.deterministic,
        logger=CSVLogger(run_dir / "logs", name="", version=f"attempt{_attempt(run_dir)}"),
        callbacks=[checkpoint, *(callbacks or [])],
        default_root_dir=run_dir,
        enable_progress_bar=cfg.trainer.progress_bar,
        enable_model_summary=False,
        reload_dataloaders_every_n_epochs=1,  # each epoch's loader carries its epoch number
        use_distributed_sampler=False,  # the data module shards itself (see ClipDataModule)
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )
    trainer.fit(module, datamodule=data, ckpt_path=str(last) if resume and last.is_file() else None)
    if trainer.is_global_zero:
        merge_metrics(run_dir)
        export_best(run_dir, checkpoint.best_model_path or str(last), module)
        from vnaw.evaluation.plots import plot_training

        plot_training(run_dir / "metrics.csv", run_dir / "training.png")
    return run_dir


def _attempt(run_dir: Path) -> int:
    """Index of this training attempt: each resume logs into its own ``logs/attempt<n>``."""
    return len(list((run_dir / "logs").glob("attempt*")))


def merge_metrics(run_dir: Path) -> None:
    """Join the attempts' ``metrics.csv`` into ``run_dir/metrics.csv``; an epoch that a later
    attempt re-ran (after a crash) is taken from that attempt."""
    parts = []
    for attempt in sorted((run_dir / "logs").glob("attempt*"), key=lambda p: int(p.name[7:])):
        csv = attempt / "metrics.csv"
        if csv.is_file():
            df = pd.read_csv(csv)
            if parts and len(df):
                parts = [p[p["epoch"] < df["epoch"].min()] for p in parts]
            parts.append(df)
    if parts:
        tmp = run_dir / ".metrics.csv.tmp"
        pd.concat(parts, ignore_index=True).to_csv(tmp, index=False)
        os.replace(tmp, run_dir / "metrics.csv")


def export_best(run_dir: Path, ckpt_path: str, module: VNAWModule) -> None:
    """Write the best epoch's video model (:mod:`vnaw.models.artifact`) and its NAW weights."""
    ckpt = load_torch(ckpt_path)
    state = ckpt["state_dict"]

    def part(prefix: str) -> dict:
        return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}

    trained = module.cfg.mode == "end-to-end" and module.cfg.encoder.finetune
    save_run_model(
        run_dir,
        part("model.temporal."),
        module.encoder_identity,
        encoder_meta=module.model.meta if trained else None,
        encoder_state=part("model.encoder.") if trained else None,
        epoch=ckpt.get("epoch"),
    )
    weights = ckpt.get("naw_weights")
    if weights is not None and len(weights):
        atomic_write(run_dir / "naw_weights.npy", lambda f: np.save(f, weights.numpy()))
