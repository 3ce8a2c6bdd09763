"""Run configuration: typed defaults here, YAML files over them, command-line ``key=value`` last.

One :class:`RunConfig` fully describes a V-NAW training run (design §6–§7), one
:class:`PretrainConfig` an encoder pretraining run (design §5); both share the optimiser and trainer
sections. The resolved copy is written as ``config.yaml`` into every run directory. Unknown keys are errors (OmegaConf structured
configs), so a typo in a YAML file or an override fails loudly instead of being ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vnaw.errors import ConfigError
from vnaw.labels import NUM_CLASSES


@dataclass
class TemporalConfig:
    """Temporal encoder hyper-parameters (:mod:`vnaw.models.temporal`); defaults are the authors' released code (design §6)."""

    # Size of the per-frame features (Swin-T: 768). None: the feature store's (features mode) or the
    # encoder's (end-to-end), filled in before the run's config.yaml is written; a value given that
    # differs from it is an error, never silently replaced.
    feature_dim: int | None = None
    num_classes: int = NUM_CLASSES
    d_model: int = 512  # model width
    num_layers: int = 4
    num_heads: int = 1
    dim_feedforward: int = 512
    dropout: float = 0.6  # heavy dropout: the released code's choice against overfitting clips
    max_period: float = 10000.0  # sinusoid base of the positional encoding
    # Person baseline (not in the paper; design §6.1): "none" (the paper), "subtract" (each frame's
    # features minus the mean of the clip's present frames) or "token" (that mean as an extra
    # token the frames attend to).
    person_baseline: str = "none"


@dataclass
class DataConfig:
    root: str | None = None  # Aff-Wild2 release root (annotation folder + cropped_aligned*/)
    # The EXPR annotation folder (holding Train_Set/, Validation_Set/); None: found under root
    # by content (design §3.1).
    annotations: str | None = None
    features: str | None = None  # feature store written by `vnaw extract` (features mode)
    split: str = "official"  # "official" or "fold<k>" (k = 1, 2, …) of `folds_file`
    folds_file: str | None = None  # JSON written by the k-fold splitter
    clip_length: int = 100  # P, frames per clip (paper: 100)
    eval_stride: int | None = None  # window stride at evaluation; None → P // 2 (design §8)
    clips_per_epoch: int | None = (
        None  # training clips per epoch; None → Σ⌈N/P⌉ (≈ all frames once)
    )
    batch_size: int = 64  # global batch per optimiser step, all DDP processes together
    # What batch_size counts: "clips", or "frames" (then ⌈batch_size / clip_length⌉ clips).
    batch_unit: str = "clips"
    num_workers: int = 0
    missing_crops: str = "nearest"  # "nearest" (design §3.1) or "drop"
    # Choose the best checkpoint on this fraction of the training videos (seeded, whole source
    # videos) instead of the split's test videos, which are then only reported; 0: off.
    val_from_train: float = 0.0
    skip_bad: bool = False  # warn about and skip malformed videos instead of stopping
    clean_labels: bool = False  # train on clean/ labels (synthetic data only: the ceiling run)


@dataclass
class AugmentConfig:
    frame_skip: bool = True  # frame skipping, eq. 3
    skip_low: float = 0.2  # λ ~ U(low, high)
    skip_high: float = 0.4
    skip_mode: str = "drop"  # "drop" (masked out) or "zero" (zeroed in place)
    erase: bool = True  # eqs. 4–5; in features mode: one of the store's erased views per clip
    erase_ratio: float = 0.2
    erase_mode: str = "pixels"  # "pixels", "rectangle" or "cutout"


@dataclass
class LossConfig:
    # "frame" (the authors' code) or "clip" (the paper as written).
    # Deviation: the paper's V-NAW is clip level; frame is the default because it scored better on
    # the per-frame metric in our synthetic ablation (docs/reproduce.md, design §7.2); the shipped `paper` config
    # keeps "clip".
    level: str = "frame"
    naw: bool = True  # False: plain cross-entropy at the same level (Table 2)
    normalize: bool = True  # C of eq. 11
    detach: bool = False  # the NLA reference does not detach w


# -- sections shared by V-NAW training (RunConfig) and encoder pretraining (PretrainConfig) -----


@dataclass
class OptimConfig:
    lr: float = 1e-4  # paper: AdamW, 1e-4
    weight_decay: float = 0.05
    epochs: int = 20


@dataclass
class TrainerConfig:
    """The Lightning trainer's settings; :func:`vnaw.training.trainer.trainer_kwargs` reads them."""

    accelerator: str = "auto"
    devices: str = "1"  # a count, a list like "0,1", or "auto"
    num_nodes: int = 1
    strategy: str = "auto"  # "auto": "ddp" for several devices or nodes
    precision: str = "auto"  # "auto": bf16-mixed on a CUDA GPU, 32-true on CPU
    # torch CPU threads; 0: torch's default (all cores). Small models on a busy machine train many
    # times faster on 1 thread (measured: 3 s against 47 s per demo epoch with another job running).
    threads: int = 0
    seed: int = 0
    deterministic: bool = False


# -- V-NAW training ------------------------------------------------------------------------------


@dataclass
class VideoOptimConfig(OptimConfig):
    scheduler: str = "cosine"  # "cosine" or "constant"


@dataclass
class VideoTrainerConfig(TrainerConfig):
    # Clips per device per forward pass; None: each device's whole share of the global batch.
    # Smaller: gradient accumulation makes up the global batch (end-to-end training at batch 4096).
    micro_batch_size: int | None = None
    progress_bar: bool = True


@dataclass
class EncoderConfig:
    # End-to-end mode: an encoder file (vnaw pretrain), or a timm model name with `weights`;
    # None → the shipped encoder.
    name: str | None = None
    weights: str | None = None  # weights file for a timm name (safetensors or a state dict)
    finetune: bool = False  # end-to-end mode: train the encoder too (else frozen)
    # Fine-tuning: keep the encoder's batch-norm layers in eval mode (running statistics frozen,
    # weights still trained); a common choice when each device sees few frames per step.
    freeze_norm: bool = False


@dataclass
class RunConfig:
    mode: str = "features"  # "features" (cached, frozen encoder) or "end-to-end"
    out_dir: str = "runs/vnaw"
    data: DataConfig = field(default_factory=DataConfig)
    model: TemporalConfig = field(default_factory=TemporalConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: VideoOptimConfig = field(default_factory=VideoOptimConfig)
    trainer: VideoTrainerConfig = field(default_factory=VideoTrainerConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


# -- encoder pretraining (`vnaw pretrain`, design §5) ----------------------------------------


@dataclass
class PretrainDataConfig:
    train: list[str] = field(default_factory=list)  # data specs 'reader[@split]:PATH' (static.py)
    val: list[str] = field(default_factory=list)  # empty: the val split of each train spec with one
    test: list[str] = field(
        default_factory=list
    )  # empty: the test split of each train spec with one
    label_noise: float = 0.0  # fraction of training labels replaced by a random *other* class
    noise_seed: int = 0  # the noise draw is seeded apart from training, so runs share it
    # "majority": each set's own labels; "vote": one annotator's vote drawn per image (FERPlus's
    # ten votes: real human label noise, seeded by noise_seed), images without votes keep theirs.
    label_source: str = "majority"
    balanced: bool = False  # sample classes equally (FERPlus: Disgust 0.5 %, Neutral 35 %)
    limit: int = 0  # train on a fixed random subset of N images (smoke tests, timing); 0 = all
    eval_limit: int = 0  # the same for the validation and test sets
    frame_every: int = 10  # affwild2 reader: every n-th labelled frame (video frames are redundant)
    # Pixels in memory (fast epochs) or read from disk by the loader's workers (bounded memory);
    # None: preload when they take at most 2 GB (FERPlus at 48 px grey: 72 MB).
    preload: bool | None = None
    num_workers: int = 0  # loader worker processes: 0 is enough for preloaded images


@dataclass
class PretrainModelConfig:
    backbone: str = "resnet18"  # any timm model name, e.g. swin_tiny_patch4_window7_224
    # Unset (None) fields take those of the model.init encoder when there is one (so
    # `model.init=default` fine-tunes the shipped encoder as it is), else the from-scratch recipe
    # (vnaw.training.pretrain_config.RECIPE) for resnet18 and timm's own settings for any other backbone (its input size, ImageNet
    # normalisation, RGB, no extra arguments), so changing model.backbone alone gives a working trunk.
    model_kwargs: dict[str, Any] | None = None  # extra timm.create_model arguments
    stem_pool: bool | None = None  # False removes a ResNet's stem max-pool
    input_size: int | None = None
    channels: int | None = None  # 1 = grey, 3 = RGB
    mean: list[float] | None = None
    std: list[float] | None = None
    drop_rate: float = 0.0  # dropout before the head
    # How the training faces are framed (vnaw.faces.align.TEMPLATES), written into the encoder's
    # JSON for `vnaw predict`; unset: from the training sets (vnaw.data.static.framing_of). Set it
    # for folder sets of known framing (scripts/reframe_faces.py writes "ferplus" crops).
    framing: str | None = None
    # Start from an encoder's weights (fine-tuning, or a second training cycle): "default" for the
    # shipped one, or an encoder path; its architecture fields must equal the ones above (the
    # input size may differ: fine-tuning at another resolution).
    init: str = ""
    # Start the trunk from a timm weights file the user has (e.g. ImageNet weights of the backbone):
    # .safetensors or a state dict read with weights_only. Nothing is downloaded.
    pretrained: str = ""


@dataclass
class PretrainLossConfig:
    kind: str = "nla"  # "nla" (design §5) or "ce" (eq. 10)
    lam: float = 0.5  # λ of L = λ·L_NAW + (1−λ)·L_JSD
    naw: bool = True  # False: NLA with plain CE in place of L_NAW (ablation)
    normalize: bool = True  # C = 1/(2π√|Σ|) in eq. 11
    detach: bool = False  # the NLA reference back-propagates through w
    # ε = 1 − exp(−rate·e/E); vnaw.losses.naw.NAW_DEFAULTS.epsilon_rate (a test checks they agree)
    epsilon_rate: float = 15.0
    # FERPlus vote distributions as targets (one-hot where a set has no votes); losses/soft.py.
    soft: bool = False
    # Distillation (losses/soft.py): encoders ("default" or paths) whose averaged, mirror-averaged
    # probabilities on each training image are mixed into its target with weight teacher_weight.
    teacher: list[str] = field(default_factory=list)
    teacher_weight: float = 0.5


@dataclass
class PretrainAugConfig:
    hflip: bool = True
    max_rotate: float = 10.0  # degrees
    scale: list[float] = field(default_factory=lambda: [0.9, 1.1])
    max_shift: float = 0.1  # fraction of the side
    erase_prob: float = 0.5  # random erasing (as NLA's reference), one rectangle
    # Real-video image quality (augment/photo.py); each is the share of images it is applied to.
    gamma_prob: float = 0.0
    max_gamma: float = 1.6
    downscale_prob: float = 0.0
    min_downscale: float = 0.4
    blur_prob: float = 0.0
    max_blur_sigma: float = 1.2
    jpeg_prob: float = 0.0
    min_jpeg_quality: int = 30


@dataclass
class PretrainOptimConfig(OptimConfig):
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
    # "cosine" (after the warm-up) or "exponential": lr × gamma per epoch, NLA's reference schedule.
    schedule: str = "cosine"
    gamma: float = 0.9


@dataclass
class PretrainTrainerConfig(TrainerConfig):
    devices: str = "auto"
    out_dir: str = "runs/pretrain"
    progress: bool = True
    save_half: bool = False  # store the exported encoder in fp16
    val_every: int = 1  # epochs between validations
    max_steps: int = -1  # stop after this many optimiser steps (timing and memory runs); -1: off


@dataclass
class PretrainConfig:
    data: PretrainDataConfig = field(default_factory=PretrainDataConfig)
    model: PretrainModelConfig = field(default_factory=PretrainModelConfig)
    loss: PretrainLossConfig = field(default_factory=PretrainLossConfig)
    aug: PretrainAugConfig = field(default_factory=PretrainAugConfig)
    optim: PretrainOptimConfig = field(default_factory=PretrainOptimConfig)
    trainer: PretrainTrainerConfig = field(default_factory=PretrainTrainerConfig)


_CHOICES = {
    "mode": ("features", "end-to-end"),
    "loss.level": ("clip", "frame"),
    "model.person_baseline": ("none", "subtract", "token"),
    "augment.skip_mode": ("drop", "zero"),
    "augment.erase_mode": ("pixels", "rectangle", "cutout"),
    "optim.scheduler": ("cosine", "constant"),
    "data.missing_crops": ("nearest", "drop"),
    "data.batch_unit": ("clips", "frames"),
}


def merge_structured(
    schema: type, path: str | Path | None = None, overrides: list[str] | None = None
):
    """Dataclass ``schema`` defaults ← YAML file ``path`` ← dotted ``key=value`` overrides.

    Returns a ``schema`` instance; an unknown key or a value of the wrong type is a
    :class:`ConfigError` naming the file.
    """
    merged = OmegaConf.structured(schema)
    if path is not None:
        try:
            merged = OmegaConf.merge(merged, _load_mapping(Path(path)))
        except (OmegaConfBaseException, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: {' '.join(str(err).split())}") from None
    for override in overrides or []:  # one at a time: a bad one is named, not the file
        try:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist([override]))
        except (OmegaConfBaseException, yaml.YAMLError) as err:
            raise ConfigError(f"override {override}: {' '.join(str(err).split())}") from None
    return OmegaConf.to_object(merged)


def _load_mapping(path: Path) -> Any:
    """The YAML file ``path`` as a mapping of keys (empty for an empty file); anything else (a
    missing file, text that is not UTF-8, a list or a scalar at the top) is a :class:`ConfigError`
    naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a YAML file (not UTF-8 text)") from None
    top = yaml.safe_load(text)  # the shape only; OmegaConf's own loader reads the values
    if top is None:
        return OmegaConf.create({})
    if not isinstance(top, dict):
        what = "a list" if isinstance(top, list) else f"a single value ({type(top).__name__})"
        raise ConfigError(f"{path}: expected a mapping of keys (key: value), found {what}")
    return OmegaConf.create(text)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults ← YAML file ``path`` ← dotted ``key=value`` overrides; validated."""
    cfg: RunConfig = merge_structured(RunConfig, path, overrides)
    validate(cfg)
    return cfg


def load_config_args(
    config: str | None, overrides: list[str], load: Callable[..., Any] | None = None
) -> Any:
    """``load`` (default :func:`load_config`) for a command line ``[CONFIG] [KEY=VALUE …]`` whose
    file is optional; CONFIG is a YAML file or the name of one shipped with the package
    (``paper``, ``demo``, ``demo_pretrain``, …). The one reading of ``vnaw train``, ``kfold``,
    ``ablation`` and ``pretrain`` command lines."""
    overrides = list(overrides)
    if config is not None and "=" in config and not Path(config).is_file():
        config, overrides = None, [config, *overrides]
    return (load or load_config)(resolve_config(config), overrides)


def resolve_config(config: str | None) -> str | None:
    """A config file path as given, or the packaged ``vnaw/configs/<name>.yaml``."""
    if config is None or Path(config).is_file():
        return config
    from importlib import resources

    packaged = resources.files("vnaw") / "configs" / f"{config.removesuffix('.yaml')}.yaml"
    if packaged.is_file():
        return str(packaged)
    raise ConfigError(
        f"{config}: config file not found, and no shipped config of that name ({', '.join(shipped_configs())})"
    )


def shipped_configs() -> list[str]:
    from importlib import resources

    return sorted(
        p.name.removesuffix(".yaml")
        for p in (resources.files("vnaw") / "configs").iterdir()
        if p.name.endswith(".yaml")
    )


def validate(cfg: RunConfig) -> None:
    for key, allowed in _CHOICES.items():
        value = OmegaConf.select(OmegaConf.structured(cfg), key)
        if value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")
    if not 0.0 <= cfg.data.val_from_train < 1.0:
        raise ConfigError(f"data.val_from_train must lie in [0, 1); got {cfg.data.val_from_train}")
    if cfg.data.clip_length < 1:
        raise ConfigError(f"data.clip_length must be >= 1; got {cfg.data.clip_length}")
    if not 0 <= cfg.augment.skip_low <= cfg.augment.skip_high <= 1:
        raise ConfigError("augment.skip_low <= augment.skip_high must lie in [0, 1]")


def to_yaml(cfg) -> str:
    """YAML text of a configuration dataclass instance."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def save_config(cfg, path: str | Path) -> None:
    """Write the resolved configuration atomically (a crash never leaves half a file)."""
    from vnaw.files import atomic_text

    atomic_text(path, to_yaml(cfg))


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which containers and `taskset` set;
    os.cpu_count() counts the machine's): the cap on loader workers."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
