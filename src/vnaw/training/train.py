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

``--resume`` continues a killed run from ``checkpoints/last.ckpt`` (written after every epoch)
with the saved configuration, and gives the weights an uninterrupted run gives; on a finished run
it does nothing. Checkpoints are read weights-only and written atomically
(:mod:`vnaw.training.checkpoints`); one ``vnaw train`` at a time writes to a run directory
(:func:`vnaw.files.output_lock`). Before any work, the training set must have a valid label and,
in end-to-end mode, every crop must decode (:mod:`vnaw.data.check`; ``data.skip_bad`` leaves bad
videos out instead).
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only

from vnaw.config import RunConfig, load_config, save_config
from vnaw.data.check import checked_records, require_labels
from vnaw.data.datamodule import (
    ClipDataModule,
    FeatureSource,
    ImageSource,
    SplitRecords,
    accumulation,
    batch_summary,
    split_records,
)
from vnaw.errors import ConfigError, ModelFileError
from vnaw.files import atomic_path, atomic_write, load_torch
from vnaw.models.artifact import CONFIG_FILE, save_run_model
from vnaw.models.frame_encoder import is_user_file
from vnaw.training.checkpoints import (
    finished_epochs,
    finished_note,
    last_checkpoint_callback,
    run_lock,
)
from vnaw.training.console import console_callbacks, progress_bar, quiet_lightning
from vnaw.training.module import VNAWModule
from vnaw.training.trainer import seed_and_threads, trainer_kwargs


def with_feature_dim(cfg: RunConfig, size: int, source: str) -> RunConfig:
    """A copy of ``cfg`` whose unset ``model.feature_dim`` is ``size``, the size of the features
    ``source`` gives; a different size in ``cfg`` is an error (the model would not fit them)."""
    given = cfg.model.feature_dim
    if given is not None and given != size:
        raise ConfigError(
            f"model.feature_dim={given}, but {source} gives {size}-d features; leave "
            "model.feature_dim unset (it follows the features) or use other features"
        )
    return replace(cfg, model=replace(cfg.model, feature_dim=size))


def build(
    cfg: RunConfig, records: SplitRecords | None = None, store=None
) -> tuple[VNAWModule, ClipDataModule]:
    """Module and data for a configuration (features or end-to-end mode); the configuration the
    run uses, ``model.feature_dim`` resolved (:func:`with_feature_dim`), is ``module.cfg``."""
    if records is None:
        records = split_records(cfg)
    require_labels(records.train, "training", cfg.data.root or "the training set")
    if cfg.mode == "features":
        if store is None:
            store = _open_store(cfg, records)
        where = f"the feature store {cfg.data.features or ''}".rstrip()
        cfg = with_feature_dim(cfg, store.feature_size, where)
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

    encoder = load_encoder(cfg.encoder.name or DEFAULT_NAME, cfg.encoder.weights)
    name = cfg.encoder.name or DEFAULT_NAME
    cfg = with_feature_dim(cfg, encoder.meta.feature_size, f"the encoder {name}")
    # End-to-end mode reads the crops themselves: check them all before the first step.
    records = SplitRecords(
        checked_records(records.train, skip_bad=cfg.data.skip_bad),
        checked_records(records.val, skip_bad=cfg.data.skip_bad),
    )
    require_labels(records.train, "training", cfg.data.root or "the training set")
    data = ClipDataModule(cfg, ImageSource(encoder.meta), key="images", records=records)
    return VNAWModule(cfg, encoder=encoder), data


def _open_store(cfg: RunConfig, records: SplitRecords):
    """The feature store of ``data.features``, checked against the records; with
    ``data.skip_bad``, videos it lacks (skipped by ``vnaw extract --skip-bad``) are left out."""
    from vnaw.features.store import FeatureStore, check_store, is_done

    if cfg.data.features is None:
        raise ConfigError("mode=features needs data.features (a store from `vnaw extract`)")
    store = FeatureStore(cfg.data.features)
    if cfg.data.skip_bad:
        for part in (records.train, records.val):
            for r in [r for r in part if not is_done(store.path, r.name)]:
                print(f"skipping video {r.name}: not in {store.path}", file=sys.stderr)
                part.remove(r)
    check_store(store, records.train + records.val)
    return store


def absolute_paths(cfg: RunConfig) -> None:
    """Make the data and encoder paths of ``cfg`` absolute, so that the saved configuration of a
    run works from any directory (the run folder may be moved; the data stay where they are)."""
    d, e = cfg.data, cfg.encoder

    def fix(p: str | None) -> str | None:
        return str(Path(p).resolve()) if p and Path(p).exists() else p

    d.root, d.annotations, d.features, d.folds_file = map(
        fix, (d.root, d.annotations, d.features, d.folds_file)
    )
    e.weights = fix(e.weights)
    if e.name and (Path(e.name).exists() or Path(e.name).with_suffix(".json").is_file()):
        e.name = str(Path(e.name).resolve())


def finished_run(cfg: RunConfig) -> str | None:
    """A one-line note if ``cfg.out_dir`` holds a finished run (all epochs and the exported
    model), else ``None``."""
    run_dir = Path(cfg.out_dir)
    if (run_dir / CONFIG_FILE).is_file():
        cfg = load_config(run_dir / CONFIG_FILE)
    epochs = finished_epochs(run_dir / "checkpoints" / "last.ckpt", cfg.optim.epochs)
    if epochs is None or not (run_dir / "model.safetensors").is_file():
        return None
    return finished_note(run_dir, epochs)


def earlier_run(run_dir: str | os.PathLike[str]) -> str | None:
    """What an earlier run left in ``run_dir`` ("a run (model.safetensors, …)"), or ``None`` when
    it holds neither a model nor a checkpoint (a new folder, or one of a run refused early)."""
    run_dir = Path(run_dir)
    found = [f for f in ("model.safetensors", "checkpoints/last.ckpt") if (run_dir / f).is_file()]
    return f"a run ({', '.join(found)})" if found else None


def train(
    cfg: RunConfig,
    *,
    resume: bool = False,
    records: SplitRecords | None = None,
    store=None,
    callbacks: list | None = None,
) -> Path:
    """Train one run; returns its directory. ``store`` overrides ``data.features`` (tests).

    With ``resume``, a finished run is left as it is."""
    if resume and finished_run(cfg):
        return Path(cfg.out_dir)
    with run_lock(cfg.out_dir, "train"):
        return _train(cfg, resume, records, store, callbacks)


def _train(
    cfg: RunConfig,
    resume: bool,
    records: SplitRecords | None,
    store,
    callbacks: list | None,
) -> Path:
    run_dir = Path(cfg.out_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    if resume and (run_dir / CONFIG_FILE).is_file():
        cfg = load_config(run_dir / CONFIG_FILE)  # a resumed run keeps its own configuration
    seed_and_threads(cfg.trainer)
    absolute_paths(cfg)
    module, data = build(cfg, records, store)
    cfg = module.cfg  # resolved before it is saved; the caller's object is left as it was
    save_config(cfg, run_dir / CONFIG_FILE)
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best",
        monitor="val_f1",
        mode="max",
        enable_version_counter=False,
    )
    quiet_lightning()
    bar = progress_bar(cfg.trainer.progress_bar)
    trainer = L.Trainer(
        **trainer_kwargs(cfg.trainer, epochs=cfg.optim.epochs, progress_bar=bar),
        logger=CSVLogger(run_dir / "logs", name="", version=f"attempt{_attempt(run_dir)}"),
        callbacks=[
            checkpoint,
            last_checkpoint_callback(run_dir / "checkpoints"),
            *console_callbacks(bar, ("train_loss", "val_f1")),
            *(callbacks or []),
        ],
        default_root_dir=run_dir,
        reload_dataloaders_every_n_epochs=1,  # each epoch's loader carries its epoch number
        use_distributed_sampler=False,  # the data module shards itself (see ClipDataModule)
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )
    trainer.accumulate_grad_batches = accumulation(cfg, trainer.world_size)  # batch 4096 (paper)
    if rank_zero_only.rank == 0:  # set from the launcher's environment, before `fit`
        print(batch_summary(cfg, trainer.world_size), flush=True)
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
        with atomic_path(run_dir / "metrics.csv") as tmp:
            pd.concat(parts, ignore_index=True).to_csv(tmp, index=False)


def _user_encoder(module: VNAWModule) -> tuple:
    """Meta and trunk weights of the user's encoder file the run used, to copy into the run: the
    frozen encoder in the loop, or (features mode) the one the store names, its hash checked."""
    from vnaw.models.frame_encoder import encoder_from_identity

    if module.model.encoder is not None:
        return module.model.meta, {
            k: v.detach().cpu() for k, v in module.model.encoder.state_dict().items()
        }
    try:
        enc = encoder_from_identity(module.encoder_identity, source="the feature store")
    except (ModelFileError, ConfigError) as err:
        # The store was made elsewhere: the run names its encoder by path and hash instead.
        print(f"warning: encoder not copied into the run ({err})", file=sys.stderr)
        return None, None
    return enc.meta, enc.trunk.state_dict()


def export_best(run_dir: Path, ckpt_path: str, module: VNAWModule) -> None:
    """Write the best epoch's video model (:mod:`vnaw.models.artifact`) and its NAW weights."""
    ckpt = load_torch(ckpt_path)
    state = ckpt["state_dict"]

    def part(prefix: str) -> dict:
        return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}

    trained = module.cfg.mode == "end-to-end" and module.cfg.encoder.finetune
    enc_meta, enc_state = (module.model.meta, part("model.encoder.")) if trained else (None, None)
    if not trained and is_user_file(module.encoder_identity or {}):
        enc_meta, enc_state = _user_encoder(module)
    save_run_model(
        run_dir,
        part("model.temporal."),
        module.encoder_identity,
        encoder_meta=enc_meta,
        encoder_state=enc_state,
        trained=trained,
        epoch=ckpt.get("epoch"),
    )
    weights = ckpt.get("naw_weights")
    if weights is not None and len(weights):
        atomic_write(run_dir / "naw_weights.npy", lambda f: np.save(f, weights.numpy()))
