"""``vnaw pretrain``: NLA pretraining of the image encoder on static FER sets — paper §3.5; SPEC §5.

The classifier (:class:`vnaw.encoder.ImageClassifier`: timm trunk + linear head) is trained on any
mix of the readers of :mod:`vnaw.data.static` with either

* **NLA** (default): ``L = λ·L_NAW + (1−λ)·L_JSD`` — NAW-weighted cross-entropy, eq. (11)–(12), plus
  the Jensen–Shannon divergence between the predictions for an image and its horizontal flip, with
  ε advanced once per epoch (``naw_epsilon``); all the math is in :mod:`vnaw.naw`;
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

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vnaw.config import merge_structured, save_config
from vnaw.encoder import EncoderMeta, ImageClassifier, encoder_paths, normalize
from vnaw.labels import CLASSES, NUM_CLASSES
from vnaw.metrics import f1_from_confusion
from vnaw.naw import NAW_DEFAULTS, NAWParams, naw_epsilon, nla_loss

# -- configuration -----------------------------------------------------------------------------


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)  # data specs 'reader[@split]:PATH' (static.py)
    val: list[str] = field(default_factory=list)  # empty: the val split of each train spec with one
    test: list[str] = field(
        default_factory=list
    )  # empty: the test split of each train spec with one
    label_noise: float = 0.0  # fraction of training labels replaced by a random *other* class
    noise_seed: int = 0  # the noise draw is seeded apart from training, so runs share it
    balanced: bool = False  # sample classes equally (FERPlus: Disgust 0.5 %, Neutral 35 %)
    limit: int = 0  # train on a fixed random subset of N images (smoke tests, timing); 0 = all
    frame_every: int = 10  # affwild2 reader: every n-th labelled frame (video frames are redundant)
    num_workers: int = 0  # images are preloaded in memory, so the main process is fast enough


@dataclass
class ModelConfig:
    # The trunk (see EncoderMeta): a half-width ResNet-18 without stem pool, 48 px grey — it fits
    # 2 CPU cores (≈3–4 min per NLA epoch on FERPlus, 1 thread) and keeps 24×24 maps for small
    # faces. These defaults are the first training cycle of the shipped encoder (MODEL_CARD.md).
    backbone: str = "resnet18"
    model_kwargs: dict[str, Any] = field(
        default_factory=lambda: {"channels": [32, 64, 128, 256], "stem_width": 32}
    )
    stem_pool: bool = False
    input_size: int = 48  # FERPlus native size; larger inputs only upsample its faces
    channels: int = 1  # FERPlus is grey; RGB inputs are converted at inference
    mean: list[float] = field(default_factory=lambda: [0.5])  # ≈ FERPlus train pixel statistics
    std: list[float] = field(default_factory=lambda: [0.25])
    drop_rate: float = 0.0  # dropout before the head
    # Start from an encoder's weights (fine-tuning, or a second training cycle): "default" for the
    # shipped one, or an encoder path; its architecture fields must equal the ones above.
    init: str = ""


@dataclass
class LossConfig:
    kind: str = "nla"  # "nla" (SPEC §5) or "ce" (eq. 10)
    lam: float = 0.5  # λ of L = λ·L_NAW + (1−λ)·L_JSD
    naw: bool = True  # False: NLA with plain CE in place of L_NAW (ablation)
    normalize: bool = True  # C = 1/(2π√|Σ|) in eq. (11)
    detach: bool = False  # the NLA reference back-propagates through w
    epsilon_rate: float = NAW_DEFAULTS.epsilon_rate  # ε = 1 − exp(−rate·e/E)


@dataclass
class AugConfig:
    hflip: bool = True
    max_rotate: float = 10.0  # degrees
    scale: list[float] = field(default_factory=lambda: [0.9, 1.1])
    max_shift: float = 0.1  # fraction of the side
    erase_prob: float = 0.5  # random erasing (as NLA's reference), one rectangle


@dataclass
class OptimConfig:
    # Deviation: NLA's reference fine-tunes pretrained trunks with Adam 1e-4 (SPEC §5); training from
    # scratch needs a much larger step, so SGD + Nesterov, cosine decay after a linear warm-up.
    optimizer: str = "sgd"  # "sgd" or "adam"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 40
    batch_size: int = 64  # images per step (NLA forwards each twice: image and flip)
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.0


@dataclass
class TrainerConfig:
    out_dir: str = "runs/pretrain"
    seed: int = 0
    accelerator: str = "auto"
    devices: str = "auto"  # Lightning's: "auto", an int, or a list like "0,1"
    num_nodes: int = 1
    precision: str = "auto"  # auto: bf16-mixed on GPU, 32-true on CPU
    threads: int = 0  # torch CPU threads; 0 = torch's default
    progress: bool = True
    save_half: bool = False  # store the exported encoder in fp16
    val_every: int = 1  # epochs between validations


@dataclass
class PretrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    aug: AugConfig = field(default_factory=AugConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def load_config(
    yaml_path: str | Path | None = None, overrides: list[str] | None = None
) -> PretrainConfig:
    """Defaults ← YAML file ← ``key=value`` overrides; unknown keys are errors (OmegaConf)."""
    out: PretrainConfig = merge_structured(PretrainConfig, yaml_path, overrides)
    validate_config(out)
    return out


def validate_config(cfg: PretrainConfig) -> None:
    if cfg.loss.kind not in ("nla", "ce"):
        raise ValueError(f"loss.kind must be 'nla' or 'ce', got {cfg.loss.kind!r}")
    if not 0.0 <= cfg.data.label_noise < 1.0:
        raise ValueError(f"data.label_noise must be in [0, 1), got {cfg.data.label_noise}")
    if cfg.optim.optimizer not in ("sgd", "adam"):
        raise ValueError(f"optim.optimizer must be 'sgd' or 'adam', got {cfg.optim.optimizer!r}")
    if cfg.optim.epochs < 1 or cfg.optim.batch_size < 1:
        raise ValueError("optim.epochs and optim.batch_size must be positive")


def encoder_meta(cfg: ModelConfig) -> EncoderMeta:
    return EncoderMeta(
        backbone=cfg.backbone,
        model_kwargs=dict(cfg.model_kwargs),
        stem_pool=cfg.stem_pool,
        input_size=cfg.input_size,
        channels=cfg.channels,
        mean=tuple(cfg.mean),
        std=tuple(cfg.std),
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
        raise ValueError(
            f"model.init={source}: the encoder does not match the model.* settings: "
            + "; ".join(diff)
        )
    model.load_state_dict(init.state_dict())


# -- labels and sampling -----------------------------------------------------------------------


def inject_symmetric_noise(
    labels: np.ndarray, fraction: float, seed: int, num_classes: int = NUM_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``round(fraction·N)`` labels, chosen at random, by a uniformly drawn *other* class.

    Returns ``(noisy_labels, changed)``; exactly that fraction of labels is wrong afterwards.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=np.int64)
    changed = np.zeros(labels.shape[0], dtype=bool)
    changed[rng.choice(labels.shape[0], round(fraction * labels.shape[0]), replace=False)] = True
    # Adding 1..K-1 modulo K gives every other class with equal probability.
    offset = rng.integers(1, num_classes, size=labels.shape[0])
    noisy = np.where(changed, (labels + offset) % num_classes, labels)
    return noisy, changed


def balanced_weights(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Per-sample weights ``1/count(class)`` so every class is drawn equally often."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return 1.0 / counts[labels]


# -- augmentation (on the batch, on the training device) ---------------------------------------


def random_affine(
    x: Tensor,
    generator: torch.Generator | None = None,
    *,
    hflip: bool = True,
    max_rotate: float = 10.0,
    scale: tuple[float, float] = (0.9, 1.1),
    max_shift: float = 0.1,
) -> Tensor:
    """Random flip, rotation, scale and shift per image of ``(N, C, H, W)``; zeros fill the border
    (the normalised mean grey)."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    angle = uniform(-max_rotate, max_rotate) * math.pi / 180.0
    inv_scale = 1.0 / uniform(*scale)
    flip = (
        torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if hflip else torch.ones(n)
    )
    cos, sin = torch.cos(angle) * inv_scale, torch.sin(angle) * inv_scale
    # theta maps output to input coordinates in [-1, 1]; flip mirrors the input x axis.
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, uniform(-2 * max_shift, 2 * max_shift)], dim=1),
            torch.stack([sin * flip, cos, uniform(-2 * max_shift, 2 * max_shift)], dim=1),
        ],
        dim=1,
    ).to(x)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_erase(
    x: Tensor,
    prob: float,
    generator: torch.Generator | None = None,
    area: tuple[float, float] = (0.02, 0.25),
    ratio: tuple[float, float] = (0.3, 3.3),
) -> Tensor:
    """Random erasing: with probability ``prob`` one rectangle per image set to N(0, 1) noise."""
    n, _, h, w = x.shape
    x = x.clone()
    for i in torch.nonzero(torch.rand(n, generator=generator) < prob).flatten().tolist():
        a = h * w * (area[0] + (area[1] - area[0]) * torch.rand(1, generator=generator).item())
        log_r = (
            math.log(ratio[0])
            + (math.log(ratio[1]) - math.log(ratio[0])) * torch.rand(1, generator=generator).item()
        )
        eh = min(h, max(1, round(math.sqrt(a * math.exp(log_r)))))
        ew = min(w, max(1, round(math.sqrt(a / math.exp(log_r)))))
        top = int(torch.randint(0, h - eh + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - ew + 1, (1,), generator=generator))
        noise = torch.randn(x.shape[1], eh, ew, generator=generator).to(x)
        x[i, :, top : top + eh, left : left + ew] = noise
    return x


def to_model_input(images: Tensor, meta: EncoderMeta) -> Tensor:
    """uint8 ``(N, H, W)`` or ``(N, H, W, C)`` → normalised float ``(N, C, H, W)``."""
    x = images[:, None] if images.ndim == 3 else images.permute(0, 3, 1, 2)  # -> (N, C, H, W)
    return normalize(x.float() / 255.0, meta)


# -- data --------------------------------------------------------------------------------------


class InMemoryImages(torch.utils.data.Dataset):
    """Preloaded uint8 images ``(N, H, W[, C])`` with labels; items are ``(image, label)``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.images[i], self.labels[i]


def load_split(
    specs: list[str],
    split: str,
    meta: EncoderMeta,
    limit: int = 0,
    progress: bool = False,
    every: int = 10,
):
    """Read specs (combined) and preload their pixels: ``(ImageSet, images uint8)``."""
    from vnaw.data.static import load_images, read_specs

    imgs = read_specs(specs, split, every=every)
    if limit:
        keep = np.random.default_rng(0).permutation(len(imgs))[:limit]
        keep.sort()
        imgs.paths = [imgs.paths[i] for i in keep]
        imgs.labels, imgs.votes = imgs.labels[keep], imgs.votes[keep]
        imgs.source = [imgs.source[i] for i in keep]
    return imgs, load_images(imgs.paths, meta.input_size, meta.channels, progress=progress)


def derived_specs(train_specs: list[str], split: str) -> list[str]:
    """The ``split`` sets of those training specs that have one (SPEC §3.2 readers)."""
    from vnaw.data.static import has_split

    return [s for s in train_specs if has_split(s, split)]


# -- the LightningModule -----------------------------------------------------------------------


class PretrainModule(L.LightningModule):
    """Wires model, loss (:mod:`vnaw.naw`), augmentation, metrics and optimiser; no math here."""

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
        x = to_model_input(images, self.meta)
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
        probs = self.model.proba(to_model_input(images, self.meta), flip=True)
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
    """``(model state dict, config dict)`` of a Lightning checkpoint, loaded with weights_only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable checkpoint ({e})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"{path}: not a vnaw pretrain checkpoint (no state_dict)")
    config = ckpt.get("hyper_parameters", {}).get("config", {})
    return ckpt["state_dict"], config


def check_checkpoint(path: str | Path, module: torch.nn.Module) -> None:
    """Raise a clear error if a checkpoint's tensors do not fit ``module`` (before resuming)."""
    state, _ = read_checkpoint_state(path)
    expected = module.state_dict()
    wrong = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    missing = sorted(set(expected) - set(state))
    if wrong or missing:
        raise ValueError(
            f"{path} does not fit this model (was it trained with another backbone, width or input "
            f"size?): {len(wrong)} shape mismatch(es), e.g. {wrong[:3]}; {len(missing)} missing, "
            f"e.g. {missing[:3]}"
        )


def export_encoder(
    checkpoint: str | Path, out: str | Path, half: bool = False
) -> tuple[Path, Path]:
    """Write the classifier of a checkpoint as an encoder pair (safetensors + JSON)."""
    state, config = read_checkpoint_state(checkpoint)
    if not config:
        raise ValueError(f"{checkpoint}: no saved configuration; not a vnaw pretrain checkpoint")
    from omegaconf import OmegaConf

    cfg: PretrainConfig = OmegaConf.to_object(
        OmegaConf.merge(OmegaConf.structured(PretrainConfig), config)
    )  # type: ignore[assignment]
    model = ImageClassifier(encoder_meta(cfg.model))
    prefix = "model."
    sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    check = model.load_state_dict(sub, strict=False)
    if check.missing_keys or check.unexpected_keys:
        raise ValueError(
            f"{checkpoint}: missing {check.missing_keys[:3]}, unexpected {check.unexpected_keys[:3]}"
        )
    return model.save(out, half=half)


# -- evaluation --------------------------------------------------------------------------------


@torch.no_grad()
def evaluate_classifier(
    model: ImageClassifier,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 512,
    *,
    flip: bool = True,
) -> dict[str, Any]:
    """Accuracy, per-class F1 and macro-F1 (SPEC §8 metric) of a classifier on preloaded images.

    ``flip`` scores the average of each image and its mirror, as ``predict_proba`` does.
    """
    model.eval()
    preds = []
    for start in range(0, len(images), batch_size):
        x = to_model_input(torch.from_numpy(images[start : start + batch_size]), model.meta)
        preds.append(model.proba(x, flip=flip).argmax(1).numpy())
    pred = np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)
    return metrics_from_predictions(labels, pred)


def metrics_from_predictions(labels: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    from vnaw.metrics import confusion_matrix

    cm = confusion_matrix(labels, pred)
    per_class = f1_from_confusion(cm)
    return {
        "n": int(cm.sum()),
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "macro_f1": float(per_class.mean()),
        "per_class_f1": {c: float(v) for c, v in zip(CLASSES, per_class, strict=True)},
        "confusion": cm.tolist(),
    }


def format_report(result: dict[str, Any], name: str = "") -> str:
    """Accuracy, macro-F1 and a markdown row of per-class F1 (percent, SPEC §2 order)."""
    cols = ["F1 %", *CLASSES, "Avg."]
    cells = [name or "F1", *(f"{100 * result['per_class_f1'][c]:.2f}" for c in CLASSES)]
    cells.append(f"{100 * result['macro_f1']:.2f}")
    return (
        f"{name} n={result['n']}  accuracy {100 * result['accuracy']:.2f} %  "
        f"macro-F1 {100 * result['macro_f1']:.2f} %\n"
        + "| "
        + " | ".join(cols)
        + " |\n|"
        + "---|" * len(cols)
        + "\n"
        + "| "
        + " | ".join(cells)
        + " |"
    )


def save_confusion_png(cm: np.ndarray, path: str | Path, title: str = "") -> None:
    """Row-normalised confusion matrix as a PNG (rows = true class)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(NUM_CLASSES), CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(NUM_CLASSES), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(NUM_CLASSES):
        for j in range(NUM_CLASSES):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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
        raise ValueError("no training data: give --data reader:PATH (see `vnaw pretrain -h`)")
    if cfg.trainer.threads > 0:
        torch.set_num_threads(cfg.trainer.threads)
    out = Path(cfg.trainer.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    L.seed_everything(cfg.trainer.seed, workers=True)

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
        check_checkpoint(resume, module)
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
        save_confusion_png(
            np.array(res["confusion"]), out / f"confusion_{name}.png", f"{name} ({best})"
        )
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _is_multi(devices: str) -> bool:
    d = _trainer_devices(devices)
    return (isinstance(d, int) and d > 1) or (isinstance(d, list) and len(d) > 1)


# -- command line ------------------------------------------------------------------------------


def _cmd_train(args: argparse.Namespace) -> int:
    overrides = list(args.set or [])
    if args.data:
        overrides.append(f"data.train=[{','.join(repr(s) for s in args.data)}]")
    for key, value in (
        ("data.val", args.val),
        ("data.test", args.test),
    ):
        if value:
            overrides.append(f"{key}=[{','.join(repr(s) for s in value)}]")
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
    cfg = load_config(args.config, overrides)
    resume = args.resume
    if resume == "last":
        resume = str(Path(cfg.trainer.out_dir) / "checkpoints" / "last.ckpt")
    results = run_pretrain(cfg, resume=resume)
    print(f"encoder: {encoder_paths(Path(cfg.trainer.out_dir) / 'encoder')[0]}")
    return 0 if results else 1


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from vnaw.data.static import load_images, read_spec

    model = ImageClassifier.load(args.encoder)
    if args.threads:
        torch.set_num_threads(args.threads)
    combined: dict[str, Any] | None = None
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
    w, m = export_encoder(args.checkpoint, args.out, half=args.half)
    print(f"wrote {w} and {m}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``vnaw pretrain`` (train) with its ``evaluate`` and ``export`` actions."""
    p = subparsers.add_parser(
        "pretrain",
        help="NLA pretraining of the image encoder on static FER sets (SPEC §5)",
        description="Train the image encoder (timm trunk + 8-class head) with the NLA loss or CE. "
        "Data specs: ferplus:PATH, rafdb:PATH, affectnet:PATH, folder:PATH, affwild2:PATH, "
        "optionally reader@split:PATH.",
    )
    p.add_argument("--config", help="YAML file overriding the defaults")
    p.add_argument("--data", nargs="+", help="training data specs (any mix)")
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
    p.add_argument(
        "--set", nargs="+", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=0.05"
    )
    p.set_defaults(func=_cmd_train)
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    ev = actions.add_parser("evaluate", help="accuracy and per-class/macro F1 of an encoder")
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

    ex = actions.add_parser("export", help="write a checkpoint's classifier as an encoder pair")
    ex.add_argument("--checkpoint", required=True)
    ex.add_argument(
        "--out", required=True, help="output stem (…/name → name.safetensors + name.json)"
    )
    ex.add_argument("--half", action="store_true", help="store fp16 weights")
    ex.set_defaults(func=_cmd_export)
