"""Lightning glue for V-NAW training (design §7): wires the temporal encoder, the augmentations and the
V-NAW loss; all math lives in :mod:`vnaw.models.temporal`, :mod:`vnaw.augment.video` and :mod:`vnaw.losses.video`.

A batch is a dict with ``features (B, T, D)`` — or ``images (B, T, C, H, W)`` in end-to-end mode —
``labels (B, T)`` (−1 = no valid label) and ``present (B, T)`` (False = padding / missing crop
dropped). Validation batches may add ``score (B, T)``: the frames to count, so that every frame of
a video is scored exactly once, pooled over videos (design §8).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix

from vnaw.augment.video import apply_frame_skip, frame_skip, in_frame_erase
from vnaw.config import RunConfig
from vnaw.data.datamodule import mix_seed
from vnaw.evaluation.metrics import f1_from_confusion
from vnaw.labels import CLASSES, IGNORE_INDEX, NUM_CLASSES
from vnaw.losses.video import VNAWLoss
from vnaw.models.frame_encoder import Encoder
from vnaw.models.preprocess import normalize
from vnaw.models.temporal import TemporalEncoder
from vnaw.models.video import VideoModel


class VNAWModule(L.LightningModule):
    """Temporal encoder + V-NAW loss, optionally with an image encoder in the loop.

    Args:
        cfg: the run configuration (saved as hyper-parameters, plain types only).
        encoder: end-to-end mode only — the image encoder in the loop; frozen unless
            ``cfg.encoder.finetune``.
        encoder_identity: features mode — the encoder that made the cached features (the feature
            store's record), kept with the trained model.
    """

    def __init__(
        self,
        cfg: RunConfig,
        encoder: Encoder | None = None,
        encoder_identity: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.save_hyperparameters({"config": asdict(cfg)})
        self.model = VideoModel(
            TemporalEncoder(cfg.model),
            encoder,
            clip_length=cfg.data.clip_length,
            stride=cfg.data.eval_stride,
        )
        # What the run artifact records about the encoder (vnaw.models.artifact).
        self.encoder_identity = encoder.identity() if encoder is not None else encoder_identity
        self.loss_fn = VNAWLoss(
            level=cfg.loss.level,
            naw=cfg.loss.naw,
            normalize=cfg.loss.normalize,
            detach=cfg.loss.detach,
        )
        if self.model.encoder is not None and not cfg.encoder.finetune:
            self.model.encoder.requires_grad_(False)
        self.val_confusion = MulticlassConfusionMatrix(NUM_CLASSES, ignore_index=IGNORE_INDEX)
        self.aug_generator = torch.Generator()  # reseeded every epoch, see on_train_epoch_start
        self.epoch_weights: list[Tensor] = []  # NAW weights of the current epoch (for plots)
        self.last_epoch_weights: Tensor = torch.zeros(0)

    def train(self, mode: bool = True) -> VNAWModule:
        super().train(mode)
        self.set_encoder_mode(mode)
        return self

    def set_encoder_mode(self, training: bool) -> None:
        """The image encoder's mode: training (dropout, drop-path, batch-norm statistics) only
        while fine-tuning it; with ``encoder.freeze_norm`` its batch-norm layers stay in eval mode
        (running statistics kept, as is common with small per-device batches)."""
        enc = self.model.encoder
        if enc is None:
            return
        tune = training and self.cfg.encoder.finetune
        enc.train(tune)  # frozen means frozen: no dropout, no batch-norm statistics drift
        if tune and self.cfg.encoder.freeze_norm:
            for m in enc.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()

    def on_fit_start(self) -> None:
        # Lightning keeps the modes the modules had when `fit` started, and the encoder is loaded
        # in eval mode: set it here, and again at every epoch (validation restores saved modes).
        self.set_encoder_mode(True)

    # --- steps ---------------------------------------------------------------------------------
    def encode(self, batch: dict[str, Tensor], train: bool) -> Tensor:
        """Frame features ``(B, T, D)``: cached, or from the image encoder, eq. 6."""
        if self.model.encoder is None:
            return batch["features"]
        images = batch["images"]  # (B, T, C, H, W)
        if train and self.cfg.augment.erase:
            images = in_frame_erase(
                images,
                self.cfg.augment.erase_ratio,
                self.cfg.augment.erase_mode,
                self.aug_generator,
            )
        b, t = images.shape[:2]
        meta = self.model.meta
        x = normalize(images.flatten(0, 1), meta.mean, meta.std)  # after erasing: Ω stays black
        return self.model.encode(x).view(b, t, -1)  # (B*T, D) -> (B, T, D)

    def forward(self, features: Tensor, present: Tensor | None = None):
        return self.model(features, present)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        labels, present = batch["labels"], batch["present"]
        features = self.encode(batch, train=True)
        if self.cfg.augment.frame_skip:
            b, t = labels.shape
            keep = frame_skip(
                t,
                self.cfg.augment.skip_low,
                self.cfg.augment.skip_high,
                self.aug_generator,
                batch_size=b,
            ).to(labels.device)
            features, kept = apply_frame_skip(features, keep, self.cfg.augment.skip_mode)
            present = present & kept
        out = self.model(features, present)
        result = self.loss_fn(out.logits, labels, present)
        self.log("train_loss", result.loss, prog_bar=True, batch_size=labels.shape[0])
        if result.weights.numel():
            self.epoch_weights.append(result.weights.detach().float().cpu())
        return self._global_mean(result.loss, len(result.targets))

    def _global_mean(self, loss: Tensor, count: int) -> Tensor:
        """Rescale a per-process mean so that DDP's gradient averaging yields the mean over all
        processes' samples: processes may hold different numbers of valid clips or frames."""
        world = self.trainer.world_size
        if world == 1:
            return loss
        used = torch.tensor(float(count), device=loss.device)
        total = self.trainer.strategy.reduce(used.clone(), reduce_op="sum")
        return loss * used * world / total.clamp_min(1.0)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        features = self.encode(batch, train=False)
        out = self.model(features, batch["present"])
        # Each validation frame is scored once: `score` is False on padding and on frames that an
        # earlier window already covered.
        scored = batch.get("score", batch["present"])
        labels = torch.where(scored, batch["labels"], IGNORE_INDEX)
        self.val_confusion.update(out.probs.argmax(-1).flatten(), labels.flatten())

    # --- epoch hooks -----------------------------------------------------------------------------
    def on_train_batch_start(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        if batch_idx == 0:
            # Every random stream of an epoch (augmentation draws, dropout) restarts from
            # (seed, epoch, rank) at its first step — after the loaders are built, which draw from
            # the global generator differently in a fresh and a resumed run. A resumed run then
            # repeats the uninterrupted one exactly, and each DDP process draws its own masks.
            seed = mix_seed(self.cfg.trainer.seed, self.current_epoch, self.global_rank)
            self.aug_generator.manual_seed(seed)
            torch.manual_seed(seed + 1)

    def on_train_epoch_start(self) -> None:
        self.set_encoder_mode(True)
        self.loss_fn.set_epoch(self.current_epoch, self.trainer.max_epochs)  # ε from the epoch
        self.epoch_weights = []

    def on_train_epoch_end(self) -> None:
        if self.epoch_weights:
            self.last_epoch_weights = torch.cat(self.epoch_weights)
        self.log("naw_epsilon", self.loss_fn.epsilon)

    def on_validation_epoch_end(self) -> None:
        cm = self.val_confusion.compute().cpu().numpy()
        self.val_confusion.reset()
        per_class = f1_from_confusion(cm)
        self.log("val_f1", float(per_class.mean()), prog_bar=True, sync_dist=False)
        for name, value in zip(CLASSES, per_class, strict=True):
            self.log(f"val_f1_{name}", float(value))

    # --- optimisation ---------------------------------------------------------------------------
    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(
            params, lr=self.cfg.optim.lr, weight_decay=self.cfg.optim.weight_decay
        )
        if self.cfg.optim.scheduler == "constant":
            return opt
        total = max(self.trainer.estimated_stepping_batches, 1)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # --- checkpoint extras ---------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Saved at the end of an epoch, before `on_train_epoch_end` of this module runs.
        current = torch.cat(self.epoch_weights) if self.epoch_weights else self.last_epoch_weights
        checkpoint["naw_weights"] = current

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.last_epoch_weights = checkpoint.get("naw_weights", torch.zeros(0))
