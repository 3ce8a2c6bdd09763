"""Configuration of ``vnaw pretrain`` (NLA pretraining of the image encoder, paper §3.5): typed
defaults here, a YAML file over them, ``--set key=value`` last; unknown keys are errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vnaw.config import merge_structured
from vnaw.errors import ConfigError
from vnaw.losses.naw import NAW_DEFAULTS
from vnaw.models.encoder import EncoderMeta


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
    # Deviation: the paper's encoder is a Swin Transformer at 224 px (on FERPlus + RAF-DB +
    # AffectNet); the default trunk here must train from scratch on CPU (design §5).
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
    kind: str = "nla"  # "nla" (design §5) or "ce" (eq. 10)
    lam: float = 0.5  # λ of L = λ·L_NAW + (1−λ)·L_JSD
    naw: bool = True  # False: NLA with plain CE in place of L_NAW (ablation)
    normalize: bool = True  # C = 1/(2π√|Σ|) in eq. 11
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
    # Deviation: NLA's reference fine-tunes pretrained trunks with Adam 1e-4 (design §5); training
    # from scratch needs a much larger step, so SGD + Nesterov, cosine decay after a linear warm-up.
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
        raise ConfigError(f"loss.kind must be 'nla' or 'ce', got {cfg.loss.kind!r}")
    if not 0.0 <= cfg.data.label_noise < 1.0:
        raise ConfigError(f"data.label_noise must be in [0, 1), got {cfg.data.label_noise}")
    if cfg.optim.optimizer not in ("sgd", "adam"):
        raise ConfigError(f"optim.optimizer must be 'sgd' or 'adam', got {cfg.optim.optimizer!r}")
    if cfg.optim.epochs < 1 or cfg.optim.batch_size < 1:
        raise ConfigError("optim.epochs and optim.batch_size must be positive")


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
