"""The LightningModule of ``vnaw pretrain``: wires classifier, NLA loss, augmentation, metrics and
optimiser (paper §3.5); the math is in :mod:`vnaw.losses.naw` and :mod:`vnaw.augment.image`."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vnaw.augment import photo
from vnaw.augment.image import random_affine, random_erase
from vnaw.config import PretrainConfig
from vnaw.evaluation.classifier import as_nchw
from vnaw.evaluation.metrics import f1_from_confusion
from vnaw.labels import NUM_CLASSES
from vnaw.losses.naw import NAWParams, naw_epsilon, nla_loss
from vnaw.losses.soft import soft_nla_loss
from vnaw.models.encoder import ImageClassifier
from vnaw.models.preprocess import normalize, to_input
from vnaw.training.pretrain_config import encoder_meta


class PretrainModule(L.LightningModule):
    """Wires model, loss (:mod:`vnaw.losses.naw`), augmentation, metrics and optimiser; no math here."""

    def __init__(self, cfg: PretrainConfig) -> None:
        super().__init__()
        from torchmetrics.classification import MulticlassConfusionMatrix

        self.cfg = cfg
        # Plain containers only, so checkpoints load with torch.load(weights_only=True).
        self.save_hyperparameters({"config": json.loads(json.dumps(asdict(cfg)))})
        self.meta = encoder_meta(cfg.model, cfg.data.train)
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
        # ε grows from 0 to ≈1 over the run, one step per epoch (design §5).
        self.epsilon = naw_epsilon(
            self.current_epoch, self.cfg.optim.epochs, self.cfg.loss.epsilon_rate
        )
        self.log("train/epsilon", self.epsilon, on_step=False, on_epoch=True)

    def on_train_batch_start(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        if batch_idx == 0:
            # The augmentation and dropout draws of an epoch restart from (seed, epoch, rank): a
            # run resumed from a checkpoint then repeats the uninterrupted one bit for bit (the
            # global generator is in another state after a restore). The order of the images is
            # seeded the same way (pretrain_data.EpochSampler).
            from vnaw.data.datamodule import mix_seed

            seed = self.cfg.trainer.seed
            torch.manual_seed(mix_seed(seed, self.current_epoch, self.global_rank) + 1)
            self.epsilon = naw_epsilon(
                self.current_epoch, self.cfg.optim.epochs, self.cfg.loss.epsilon_rate
            )

    def _augment(self, images: Tensor) -> Tensor:
        """uint8 images → the augmented, normalised training batch."""
        aug = self.cfg.aug
        x = to_input(as_nchw(images), self.meta, normalized=False)  # [0, 1]
        if photo.enabled(aug):  # real-video image quality, on pixels
            x = photo.photometric(x, aug)
        x = normalize(x, self.meta.mean, self.meta.std)
        x = random_affine(
            x,
            hflip=aug.hflip,
            max_rotate=aug.max_rotate,
            scale=tuple(aug.scale),
            max_shift=aug.max_shift,
        )
        if aug.erase_prob > 0:
            x = random_erase(x, aug.erase_prob)
        return x

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        images, targets, *soft = batch
        x = self._augment(images)
        if soft:
            logits, loss = self._soft_loss(x, targets, soft[0])
        elif self.cfg.loss.kind == "nla":
            if self.cfg.loss.lam < 1:
                # One pass over image and flip: (2N, C, H, W) -> logits (N, K) each.
                logits, flipped = self(torch.cat([x, x.flip(-1)])).chunk(2)
            else:  # λ = 1, NAW alone: the JSD term has no weight, so no flipped pass
                logits = flipped = self(x)
            # L = λ·L_NAW + (1−λ)·L_JSD, design §5; L_NAW is eq. 12 with w* of eq. 11.
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
            loss = F.cross_entropy(logits.float(), targets)  # plain CE, eq. 10
        acc = (logits.argmax(1) == targets).float().mean()
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log("train/acc", acc, prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def _soft_loss(self, x: Tensor, labels: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        c = self.cfg.loss
        if c.kind == "nla" and c.lam < 1:
            logits, flipped = self(torch.cat([x, x.flip(-1)])).chunk(2)
        elif c.kind == "nla":
            logits = flipped = self(x)
        else:
            logits, flipped = self(x), None
        loss, weights = soft_nla_loss(
            logits,
            flipped,
            labels,
            target,
            self.epsilon,
            lam=c.lam,
            naw=c.naw,
            normalize=c.normalize,
            detach=c.detach,
            params=self.naw_params,
        )
        if weights.numel():
            self.log("train/naw_weight", weights.mean(), on_step=False, on_epoch=True)
        return logits, loss

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
        if o.schedule == "exponential":
            per_epoch = total / o.epochs

            def factor(step: int) -> float:
                return (step + 1) / warmup if step < warmup else o.gamma ** (step // per_epoch)

        else:

            def factor(step: int) -> float:
                return warmup_cosine(step, total, warmup, o.min_lr_ratio)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float = 0.0) -> float:
    """LR factor: linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
