"""``vnaw pretrain``: NLA pretraining of the image encoder (paper §3.5, design §5).

The classifier (:class:`vnaw.models.encoder.ImageClassifier`: timm trunk + linear head) is trained on any
mix of the readers of :mod:`vnaw.data.static` with either

* **NLA** (default): ``L = λ·L_NAW + (1−λ)·L_JSD`` — NAW-weighted cross-entropy, eqs. 11–12, plus
  the Jensen–Shannon divergence between the predictions for an image and its horizontal flip, with
  ε advanced once per epoch (``naw_epsilon``); all the math is in :mod:`vnaw.losses.naw`;
* **CE**: plain cross-entropy, eq. 10 (the baseline).

Options for experiments: symmetric label noise injected into the training labels (fraction, seed)
and class-balanced sampling; ``model.init`` starts from an existing encoder (fine-tuning the
shipped one, or a second training cycle). The run directory holds ``config.yaml`` (the resolved
configuration), ``metrics.csv``, ``checkpoints/{best,last}.ckpt``, the exported encoder
``encoder.{safetensors,json}`` (best checkpoint), ``results.json`` and ``confusion_<split>.png``.
Validation (checkpoint choice), test and ``evaluate`` score each image by the softmax averaged with
its mirror's (:meth:`ImageClassifier.proba`), as ``predict_proba`` does; ``--no-flip`` turns it off.

Commands::

    vnaw pretrain [CONFIG] [optim.lr=0.05 ...] --data ferplus:PATH [--resume]
    vnaw pretrain evaluate --encoder FILE --data ferplus:PATH [--split test] [--no-flip]
    vnaw pretrain export --checkpoint RUN/checkpoints/best.ckpt --out FILE

Setup (config, data, trainer) is kept apart from the per-step work, which is in the thin
:class:`PretrainModule`.

``--resume`` continues from ``last.ckpt`` (written after every epoch, atomically, read
weights-only: :mod:`vnaw.training.checkpoints`) and gives the weights of an uninterrupted run bit
for bit: the image order and every random draw of an epoch depend only on (seed, epoch)
(:class:`~vnaw.training.pretrain_data.EpochSampler`, ``PretrainModule.on_train_batch_start``). On
a finished run with the same configuration it does nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor

from vnaw.config import PretrainConfig, save_config, to_yaml
from vnaw.data.static import parse_spec
from vnaw.errors import ConfigError, DataError, ModelFileError
from vnaw.evaluation.classifier import evaluate_classifier, format_report
from vnaw.evaluation.plots import plot_confusion
from vnaw.files import (
    atomic_json,
    check_fits,
    load_into,
    load_state_dict,
    load_torch,
)
from vnaw.labels import NUM_CLASSES
from vnaw.losses.soft import distill_targets, vote_targets
from vnaw.models.encoder import ImageClassifier
from vnaw.models.meta import require_encoder
from vnaw.training.checkpoints import (
    finished_epochs,
    finished_note,
    last_checkpoint_callback,
    run_lock,
)
from vnaw.training.console import cap_workers, console_callbacks, progress_bar, quiet_lightning
from vnaw.training.pretrain_config import encoder_meta, validate_config
from vnaw.training.pretrain_data import (
    EpochSampler,
    InMemoryImages,
    balanced_weights,
    derived_specs,
    draw_votes,
    inject_symmetric_noise,
    load_split,
)
from vnaw.training.pretrain_module import PretrainModule
from vnaw.training.trainer import seed_and_threads, trainer_kwargs


def init_from_timm_weights(model: ImageClassifier, path: str) -> None:
    """Start the trunk from a timm weights file the user has (``model.pretrained``): safetensors
    or a state dict read with weights_only; a classifier head in the file is left out."""
    state = load_state_dict(path)
    own = model.trunk.state_dict()
    trunk_state = {k: v for k, v in state.items() if k in own}
    load_into(model.trunk, trunk_state, path)


def init_from_encoder(model: ImageClassifier, source: str) -> None:
    """Copy the weights of encoder ``source`` ("default" or a path) into ``model``.

    The input size may differ (fine-tuning at a new resolution): trunks are built without it
    (:func:`vnaw.models.encoder.build_trunk`), so the same weights fit any size."""
    init = ImageClassifier.load(source)
    fields = ("backbone", "model_kwargs", "stem_pool", "channels", "mean", "std")
    diff = [
        f"{f}: encoder {getattr(init.meta, f)!r} vs config {getattr(model.meta, f)!r}"
        for f in fields
        if getattr(init.meta, f) != getattr(model.meta, f)
    ]
    if diff:
        raise ConfigError(
            f"model.init={source}: the encoder does not match the model.* settings: "
            + "; ".join(diff)
        )
    model.load_state_dict(init.state_dict())


# -- checkpoints -------------------------------------------------------------------------------


def read_checkpoint_state(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(model state dict, config dict)`` of a pretraining checkpoint (read with weights_only)."""
    ckpt = load_torch(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ModelFileError(f"{path}: not a vnaw pretrain checkpoint (no state_dict)")
    config = (ckpt.get("hyper_parameters") or {}).get("config", {})
    return ckpt["state_dict"], config


def export_encoder(
    checkpoint: str | Path, out: str | Path, half: bool = False
) -> tuple[Path, Path]:
    """Write the classifier of a checkpoint as an encoder pair (safetensors + JSON)."""
    state, config = read_checkpoint_state(checkpoint)
    if not config:
        raise ModelFileError(
            f"{checkpoint}: no saved configuration; not a vnaw pretrain checkpoint"
        )
    from omegaconf import OmegaConf

    cfg: PretrainConfig = OmegaConf.to_object(
        OmegaConf.merge(OmegaConf.structured(PretrainConfig), config)
    )  # type: ignore[assignment]
    model = ImageClassifier(encoder_meta(cfg.model, cfg.data.train))
    load_into(model, {k[6:]: v for k, v in state.items() if k.startswith("model.")}, checkpoint)
    return model.save(out, half=half)


# -- the run -----------------------------------------------------------------------------------


def keep_previous_metrics(out: Path) -> None:
    """Move ``metrics.csv`` aside before a resume (the CSV logger would overwrite it)."""
    metrics = out / "metrics.csv"
    if metrics.is_file():
        part = 1
        while (out / f"metrics.part{part}.csv").exists():
            part += 1
        metrics.rename(out / f"metrics.part{part}.csv")


def finished_pretrain(cfg: PretrainConfig, resume: str | Path | None) -> str | None:
    """A one-line note if ``resume`` is the ``last.ckpt`` of this finished run with this very
    configuration, else ``None`` (more epochs or other settings: training goes on)."""
    out = Path(cfg.trainer.out_dir)
    last = out / "checkpoints" / "last.ckpt"
    if resume is None or Path(resume) != last or not (out / "results.json").is_file():
        return None
    saved = out / "config.yaml"
    if not saved.is_file() or saved.read_text() != to_yaml(cfg):
        return None
    epochs = finished_epochs(last, cfg.optim.epochs)
    return finished_note(out, epochs) if epochs else None


def run_pretrain(
    cfg: PretrainConfig, resume: str | Path | None = None, callbacks: list | None = None
) -> dict[str, Any]:
    """Train, export the best encoder, evaluate on the test sets; returns the results dict.

    One ``vnaw pretrain`` at a time writes to a run folder; ``callbacks`` are added to the
    trainer's (tests)."""
    _check_data_specs(cfg)
    with run_lock(cfg.trainer.out_dir, "pretrain"):
        return _run_pretrain(cfg, resume, callbacks or [])


def _run_pretrain(cfg: PretrainConfig, resume: str | Path | None, callbacks: list) -> dict:
    seed_and_threads(cfg.trainer)
    out = Path(cfg.trainer.out_dir)
    # The model first: a wrong model.init is refused before any data is loaded or file written.
    module = PretrainModule(cfg)
    if note := from_scratch_note(cfg):
        print(note, file=sys.stderr, flush=True)
    if cfg.model.pretrained and resume is None:
        init_from_timm_weights(module.model, cfg.model.pretrained)
    if cfg.model.init and resume is None:
        init_from_encoder(module.model, cfg.model.init)
    save_config(cfg, out / "config.yaml")
    train_loader, val, test = _data(cfg, module.meta)
    if resume is not None:
        check_fits(module, read_checkpoint_state(resume)[0], resume)
        keep_previous_metrics(out)
    trainer, best_cb = _trainer(cfg, out, monitor_val=val is not None, callbacks=callbacks)
    train_loader.sampler.follow(trainer)
    print(
        f"training {cfg.model.backbone} at {module.meta.input_size} px: {len(train_loader)} steps "
        f"of {cfg.optim.batch_size} images per epoch, {cfg.optim.epochs} epochs",
        flush=True,
    )
    t1 = time.time()
    val_loader = _eval_loader(val, cfg)
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(resume) if resume else None)
    results: dict[str, Any] = {"train_seconds": time.time() - t1, "epochs": cfg.optim.epochs}
    if trainer.is_global_zero:
        best = best_cb.best_model_path or str(out / "checkpoints" / "last.ckpt")
        results |= _export_and_report(cfg, out, best, {"val": val, "test": test})
        atomic_json(out / "results.json", results)
    return results


STEP_LINE_SECONDS = 30.0  # without a progress bar: a step line at most this often

# Trunks that are hardly ever trained from scratch on a few hundred thousand faces.
TRANSFORMERS = ("swin", "vit", "deit", "beit", "eva", "cait", "xcit", "maxvit")


def from_scratch_note(cfg: PretrainConfig) -> str | None:
    """A one-line warning when a transformer trunk would start from random weights."""
    m = cfg.model
    if m.pretrained or m.init or not m.backbone.startswith(TRANSFORMERS):
        return None
    return (
        f"warning: {m.backbone} starts from random weights (model.pretrained is unset); the "
        "paper's NLA starts from ImageNet weights: give model.pretrained=FILE (a timm weights "
        "file, .safetensors)"
    )


def _check_data_specs(cfg: PretrainConfig) -> None:
    """A wrong reader or a missing folder is refused before any work."""
    validate_config(cfg)
    if not cfg.data.train:
        raise ConfigError("no training data: give --data reader:PATH (see `vnaw pretrain -h`)")
    for spec in (*cfg.data.train, *cfg.data.val, *cfg.data.test):
        root = parse_spec(spec)[2]
        if not Path(root).exists():
            raise DataError(root, f"not found (data spec {spec!r})")
    for t in cfg.loss.teacher:
        require_encoder(t, "loss.teacher", "teacher encoder")


def _data(
    cfg: PretrainConfig, meta
) -> tuple[torch.utils.data.DataLoader, tuple | None, tuple | None]:
    """The training loader (noisy labels, balanced sampling as configured) and the preloaded
    validation and test sets ``(ImageSet, images)`` (``None`` where there is none)."""
    t0 = time.time()
    every = cfg.data.frame_every
    pre = cfg.data.preload
    train_set, train_images = load_split(
        cfg.data.train, "train", meta, cfg.data.limit, cfg.trainer.progress, every, pre
    )
    labels = train_set.labels
    if cfg.data.label_noise > 0:
        labels, changed = inject_symmetric_noise(labels, cfg.data.label_noise, cfg.data.noise_seed)
        print(f"injected symmetric noise: {changed.sum()} of {len(labels)} labels changed")
    elif cfg.data.label_source == "vote":
        labels, changed = draw_votes(train_set.votes, labels, cfg.data.noise_seed)
        print(f"one annotator vote per image: {changed.sum()} of {len(labels)} labels differ")
    val_specs = cfg.data.val or derived_specs(cfg.data.train, "val")
    test_specs = cfg.data.test or derived_specs(cfg.data.train, "test")
    n = cfg.data.eval_limit
    val = load_split(val_specs, "val", meta, n, every=every, preload=pre) if val_specs else None
    test = load_split(test_specs, "test", meta, n, every=every, preload=pre) if test_specs else None
    print(
        f"data: train {len(labels)} ({', '.join(sorted(set(train_set.source)))}), "
        f"val {len(val[0]) if val else 0}, test {len(test[0]) if test else 0}; "
        f"loaded in {time.time() - t0:.1f} s"
    )
    weights = balanced_weights(labels) if cfg.data.balanced else None
    cfg.data.num_workers = cap_workers(cfg.data.num_workers)
    targets = None
    if cfg.loss.soft:
        targets = vote_targets(train_set.votes, labels)
    elif cfg.loss.teacher:
        targets = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    if cfg.loss.teacher:
        teacher = teacher_probs(cfg.loss.teacher, train_images, Path(cfg.trainer.out_dir))
        targets = distill_targets(targets, teacher, cfg.loss.teacher_weight)
    loader = torch.utils.data.DataLoader(
        InMemoryImages(train_images, labels, targets),
        batch_size=cfg.optim.batch_size,
        num_workers=cfg.data.num_workers,
        sampler=EpochSampler(len(labels), cfg.trainer.seed, weights),
        drop_last=len(labels) > cfg.optim.batch_size,
    )
    return loader, val, test


def teacher_probs(teachers: list[str], images, out: Path) -> np.ndarray:
    """Probabilities ``(N, 8)`` of the teacher ensemble on the training images (each teacher's
    softmax averaged with its mirror's, then over teachers), computed once per run: they are kept
    in ``OUT/teacher_probs.safetensors`` under a key of the teachers' weight hashes, so a resumed
    run reads them back instead of recomputing."""
    from safetensors import safe_open

    from vnaw.files import file_hash, save_safetensors

    weights = [require_encoder(t, "loss.teacher") for t in teachers]
    key = f"{len(images)}:" + ",".join(file_hash(w) for w in weights)
    cache = out / "teacher_probs.safetensors"
    if cache.is_file():
        with safe_open(str(cache), "pt") as f:
            if (f.metadata() or {}).get("key") == key:
                return f.get_tensor("probs").numpy()
    probs = np.zeros((len(images), NUM_CLASSES), dtype=np.float64)
    for t in teachers:
        teacher = ImageClassifier.load(t)
        teacher.logit_bias = None  # the network's own probabilities: recipes stay reproducible
        probs += teacher.predict_proba(images) / len(teachers)
    save_safetensors(cache, {"probs": torch.from_numpy(probs.astype(np.float32))}, {"key": key})
    print(f"teacher probabilities of {len(teachers)} encoder(s) written to {cache}")
    return probs.astype(np.float32)


def _eval_loader(split: tuple | None, cfg: PretrainConfig):
    if split is None:
        return None
    return torch.utils.data.DataLoader(
        InMemoryImages(split[1], split[0].labels),
        shuffle=False,
        batch_size=256,
        num_workers=cfg.data.num_workers,
    )


def _trainer(cfg: PretrainConfig, out: Path, *, monitor_val: bool, callbacks: list):
    """The Lightning trainer and its best-checkpoint callback."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    monitor = ("val/acc", "max") if monitor_val else ("train/loss_epoch", "min")
    # Two checkpoints: the best by validation accuracy, and the latest epoch (for --resume).
    best_cb = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="best",
        monitor=monitor[0],
        mode=monitor[1],
        save_top_k=1,
        auto_insert_metric_name=False,
    )
    quiet_lightning()
    bar = progress_bar(cfg.trainer.progress)
    keys = ("train/loss_epoch", "train/acc", "val/acc", "val/macro_f1")
    lines = console_callbacks(bar, keys, step_every_s=STEP_LINE_SECONDS)
    trainer = L.Trainer(
        **trainer_kwargs(cfg.trainer, epochs=cfg.optim.epochs, progress_bar=bar),
        default_root_dir=out,
        max_steps=cfg.trainer.max_steps,
        logger=CSVLogger(out, name="", version=""),
        callbacks=[best_cb, last_checkpoint_callback(out / "checkpoints"), *lines, *callbacks],
        check_val_every_n_epoch=cfg.trainer.val_every,
        log_every_n_steps=20,
    )
    return trainer, best_cb


def _export_and_report(
    cfg: PretrainConfig, out: Path, best: str, splits: dict[str, tuple | None]
) -> dict[str, Any]:
    """Export the best checkpoint's encoder; score it on the validation and test sets."""
    export_encoder(best, out / "encoder", half=cfg.trainer.save_half)
    model = ImageClassifier.from_file(out / "encoder")
    results: dict[str, Any] = {"checkpoint": best}
    for name, split in splits.items():
        if split is None:
            continue
        res = evaluate_classifier(model, split[1], split[0].labels)
        results[name] = res
        print(format_report(res, name))
        plot_confusion(
            np.array(res["confusion"]), out / f"confusion_{name}.png", f"{name} ({best})"
        )
    return results
