"""``vnaw pretrain``: NLA pretraining of the image encoder on static FER sets — paper §3.5; SPEC §5.

The classifier (:class:`vnaw.models.encoder.ImageClassifier`: timm trunk + linear head) is trained on any
mix of the readers of :mod:`vnaw.data.static` with either

* **NLA** (default): ``L = λ·L_NAW + (1−λ)·L_JSD`` — NAW-weighted cross-entropy, eq. (11)–(12), plus
  the Jensen–Shannon divergence between the predictions for an image and its horizontal flip, with
  ε advanced once per epoch (``naw_epsilon``); all the math is in :mod:`vnaw.losses.naw`;
* **CE**: plain cross-entropy, eq. (10) (the baseline).

Options for experiments: symmetric label noise injected into the training labels (fraction, seed)
and class-balanced sampling; ``model.init`` starts from an existing encoder (fine-tuning the
shipped one, or a second training cycle). The run directory holds ``config.yaml`` (the resolved
configuration), ``metrics.csv``, ``checkpoints/{best,last}.ckpt``, the exported encoder
``encoder.{safetensors,json}`` (best checkpoint), ``results.json`` and ``confusion_<split>.png``.
Validation (checkpoint choice), test and ``evaluate`` score each image by the softmax averaged with
its mirror's (:meth:`ImageClassifier.proba`), as ``predict_proba`` does; ``--no-flip`` turns it off.

Commands::

    vnaw pretrain --data ferplus:PATH [--config FILE] [--set optim.lr=0.05 ...] [--resume]
    vnaw pretrain evaluate --encoder FILE --data ferplus:PATH [--split test] [--no-flip]
    vnaw pretrain export --checkpoint RUN/checkpoints/best.ckpt --out FILE

Setup (config, data, trainer) is kept apart from the per-step work, which is in the thin
:class:`PretrainModule`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vnaw.augment.image import random_affine, random_erase
from vnaw.config import save_config
from vnaw.data.static import parse_spec
from vnaw.errors import ConfigError, DataError, ModelFileError
from vnaw.evaluation.classifier import as_nchw, evaluate_classifier, format_report
from vnaw.evaluation.metrics import f1_from_confusion
from vnaw.evaluation.plots import plot_confusion
from vnaw.files import atomic_json, check_fits, load_into, load_torch
from vnaw.labels import NUM_CLASSES
from vnaw.losses.naw import NAWParams, naw_epsilon, nla_loss
from vnaw.models.encoder import ImageClassifier
from vnaw.models.preprocess import to_input
from vnaw.training.pretrain_config import PretrainConfig, encoder_meta, validate_config
from vnaw.training.pretrain_data import (
    InMemoryImages,
    balanced_weights,
    derived_specs,
    inject_symmetric_noise,
    load_split,
)


def init_from_encoder(model: ImageClassifier, source: str) -> None:
    """Copy the weights of encoder ``source`` ("default" or a path) into ``model``."""
    init = ImageClassifier.load(source)
    fields = ("backbone", "model_kwargs", "stem_pool", "input_size", "channels", "mean", "std")
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


# -- the LightningModule -----------------------------------------------------------------------


class PretrainModule(L.LightningModule):
    """Wires model, loss (:mod:`vnaw.losses.naw`), augmentation, metrics and optimiser; no math here."""

    def __init__(self, cfg: PretrainConfig) -> None:
        super().__init__()
        from torchmetrics.classification import MulticlassConfusionMatrix

        self.cfg = cfg
        # Plain containers only, so checkpoints load with torch.load(weights_only=True).
        self.save_hyperparameters({"config": json.loads(json.dumps(asdict(cfg)))})
        self.meta = encoder_meta(cfg.model)
        self.model = ImageClassifier(self.meta)
        self.dropout = torch.nn.Dropout(cfg.model.drop_rate)
        self.naw_params = NAWParams(epsilon_rate=cfg.loss.epsilon_rate)
        self.epsilon = 0.0
        self.confusion = torch.nn.ModuleDict(
            {s: MulticlassConfusionMatrix(NUM_CLASSES) for s in ("val", "test")}
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.model.head(self.dropout(self.model.trunk(x)))

    def on_train_epoch_start(self) -> None:
        # ε grows from 0 to ≈1 over the run, one step per epoch (SPEC §5).
        self.epsilon = naw_epsilon(
            self.current_epoch, self.cfg.optim.epochs, self.cfg.loss.epsilon_rate
        )
        self.log("train/epsilon", self.epsilon, on_step=False, on_epoch=True)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        images, targets = batch
        aug = self.cfg.aug
        x = to_input(as_nchw(images), self.meta)
        x = random_affine(
            x,
            hflip=aug.hflip,
            max_rotate=aug.max_rotate,
            scale=tuple(aug.scale),
            max_shift=aug.max_shift,
        )
        if aug.erase_prob > 0:
            x = random_erase(x, aug.erase_prob)
        if self.cfg.loss.kind == "nla":
            # One pass over image and flip: (2N, C, H, W) -> logits (N, K) each.
            logits, flipped = self(torch.cat([x, x.flip(-1)])).chunk(2)
            # L = λ·L_NAW + (1−λ)·L_JSD, SPEC §5; L_NAW is Eq. (12) with w* of Eq. (11).
            loss, weights = nla_loss(
                logits,
                flipped,
                targets,
                self.epsilon,
                lam=self.cfg.loss.lam,
                naw=self.cfg.loss.naw,
                normalize=self.cfg.loss.normalize,
                detach=self.cfg.loss.detach,
                params=self.naw_params,
            )
            if weights.numel():
                self.log("train/naw_weight", weights.mean(), on_step=False, on_epoch=True)
        else:
            logits = self(x)
            loss = F.cross_entropy(logits.float(), targets)  # Eq. (10)
        acc = (logits.argmax(1) == targets).float().mean()
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log("train/acc", acc, prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def _eval_step(self, batch: tuple[Tensor, Tensor], split: str) -> None:
        images, targets = batch
        # Scored as deployed (image and mirror averaged), so the best checkpoint is chosen on that.
        probs = self.model.proba(to_input(as_nchw(images), self.meta), flip=True)
        loss = F.nll_loss(probs.clamp_min(1e-8).log(), targets)
        self.log(f"{split}/loss", loss, on_epoch=True, sync_dist=True)
        self.confusion[split].update(probs.argmax(1), targets)

    def _eval_epoch_end(self, split: str) -> None:
        cm = self.confusion[split].compute().cpu().numpy()
        self.confusion[split].reset()
        per_class = f1_from_confusion(cm)
        acc = float(np.trace(cm) / max(cm.sum(), 1))
        self.log(f"{split}/acc", acc, prog_bar=True, sync_dist=False)
        self.log(f"{split}/macro_f1", float(per_class.mean()), prog_bar=True, sync_dist=False)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def configure_optimizers(self):
        o = self.cfg.optim
        decay, no_decay = [], []
        for p in self.parameters():
            # No weight decay on norms and biases: standard for BN networks.
            (no_decay if p.ndim <= 1 else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": o.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if o.optimizer == "sgd":
            opt = torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=True)
        else:
            opt = torch.optim.AdamW(groups, lr=o.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(o.warmup_epochs * total / o.epochs)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_cosine(step, total, warmup, o.min_lr_ratio)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float = 0.0) -> float:
    """LR factor: linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


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
    model = ImageClassifier(encoder_meta(cfg.model))
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


def _trainer_devices(devices: str) -> Any:
    if devices == "auto":
        return "auto"
    if "," in devices:
        return [int(d) for d in devices.split(",") if d]
    return int(devices)


def run_pretrain(cfg: PretrainConfig, resume: str | Path | None = None) -> dict[str, Any]:
    """Train, export the best encoder, evaluate on the test sets; returns the results dict."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    validate_config(cfg)
    if not cfg.data.train:
        raise ConfigError("no training data: give --data reader:PATH (see `vnaw pretrain -h`)")
    for spec in (*cfg.data.train, *cfg.data.val, *cfg.data.test):
        root = parse_spec(spec)[2]  # a wrong reader or a missing folder is refused before any work
        if not Path(root).exists():
            raise DataError(root, f"not found (data spec {spec!r})")
    if cfg.trainer.threads > 0:
        torch.set_num_threads(cfg.trainer.threads)
    out = Path(cfg.trainer.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)

    # The model first: a wrong model.init is refused before any data is loaded.
    module = PretrainModule(cfg)
    if cfg.model.init and resume is None:
        init_from_encoder(module.model, cfg.model.init)
    meta = module.meta
    t0 = time.time()
    every = cfg.data.frame_every
    train_set, train_images = load_split(
        cfg.data.train, "train", meta, cfg.data.limit, progress=cfg.trainer.progress, every=every
    )
    labels = train_set.labels
    if cfg.data.label_noise > 0:
        labels, changed = inject_symmetric_noise(labels, cfg.data.label_noise, cfg.data.noise_seed)
        print(f"injected symmetric noise: {changed.sum()} of {len(labels)} labels changed")
    val_specs = cfg.data.val or derived_specs(cfg.data.train, "val")
    test_specs = cfg.data.test or derived_specs(cfg.data.train, "test")
    val = load_split(val_specs, "val", meta, every=every) if val_specs else None
    test = load_split(test_specs, "test", meta, every=every) if test_specs else None
    print(
        f"data: train {len(labels)} ({', '.join(sorted(set(train_set.source)))}), "
        f"val {len(val[0]) if val else 0}, test {len(test[0]) if test else 0}; "
        f"loaded in {time.time() - t0:.1f} s"
    )

    loader_args = {"batch_size": cfg.optim.batch_size, "num_workers": cfg.data.num_workers}
    sampler = None
    if cfg.data.balanced:
        sampler = torch.utils.data.WeightedRandomSampler(
            torch.from_numpy(balanced_weights(labels)), num_samples=len(labels), replacement=True
        )
    train_loader = torch.utils.data.DataLoader(
        InMemoryImages(train_images, labels),
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=len(labels) > cfg.optim.batch_size,
        **loader_args,
    )

    def eval_loader(split: tuple | None):
        if split is None:
            return None
        return torch.utils.data.DataLoader(
            InMemoryImages(split[1], split[0].labels),
            shuffle=False,
            **{**loader_args, "batch_size": 256},
        )

    if resume is not None:
        check_fits(module, read_checkpoint_state(resume)[0], resume)
        keep_previous_metrics(out)
    on_gpu = torch.cuda.is_available() and cfg.trainer.accelerator in ("auto", "gpu", "cuda")
    precision = cfg.trainer.precision
    if precision == "auto":
        precision = "bf16-mixed" if on_gpu else "32-true"
    monitor = ("val/acc", "max") if val else ("train/loss_epoch", "min")
    # Two checkpoints: the best by validation accuracy, and the latest epoch (for --resume).
    # (ModelCheckpoint's save_last only writes when the best improves.)
    ckpt_cb = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="best",
        monitor=monitor[0],
        mode=monitor[1],
        save_top_k=1,
        auto_insert_metric_name=False,
    )
    last_cb = ModelCheckpoint(
        dirpath=out / "checkpoints", filename="last", monitor=None, save_top_k=1, every_n_epochs=1
    )
    trainer = L.Trainer(
        default_root_dir=out,
        max_epochs=cfg.optim.epochs,
        accelerator=cfg.trainer.accelerator,
        devices=_trainer_devices(cfg.trainer.devices),
        num_nodes=cfg.trainer.num_nodes,
        strategy="ddp" if cfg.trainer.num_nodes > 1 or _is_multi(cfg.trainer.devices) else "auto",
        precision=precision,
        logger=CSVLogger(out, name="", version=""),
        callbacks=[ckpt_cb, last_cb],
        enable_progress_bar=cfg.trainer.progress,
        check_val_every_n_epoch=cfg.trainer.val_every,
        log_every_n_steps=20,
        enable_model_summary=False,
        deterministic=False,
    )
    t1 = time.time()
    trainer.fit(module, train_loader, eval_loader(val), ckpt_path=str(resume) if resume else None)
    train_seconds = time.time() - t1

    results: dict[str, Any] = {"train_seconds": train_seconds, "epochs": cfg.optim.epochs}
    if not trainer.is_global_zero:
        return results
    best = ckpt_cb.best_model_path or str(out / "checkpoints" / "last.ckpt")
    results["checkpoint"] = best
    export_encoder(best, out / "encoder", half=cfg.trainer.save_half)
    model = ImageClassifier.from_file(out / "encoder")
    for name, split in (("val", val), ("test", test)):
        if split is None:
            continue
        res = evaluate_classifier(model, split[1], split[0].labels)
        results[name] = res
        print(format_report(res, name))
        plot_confusion(
            np.array(res["confusion"]), out / f"confusion_{name}.png", f"{name} ({best})"
        )
    atomic_json(out / "results.json", results)
    return results


def _is_multi(devices: str) -> bool:
    d = _trainer_devices(devices)
    return (isinstance(d, int) and d > 1) or (isinstance(d, list) and len(d) > 1)
