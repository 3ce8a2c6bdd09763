"""Run configuration: typed defaults here, YAML files over them, command-line ``key=value`` last.

One :class:`RunConfig` fully describes a V-NAW training run (design §6–§7); the resolved copy is
written as ``config.yaml`` into every run directory. Unknown keys are errors (OmegaConf structured
configs), so a typo in a YAML file or an override fails loudly instead of being ignored.
"""

from __future__ import annotations

import os
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

    feature_dim: int = 768  # Swin-T pooled features; set to the encoder's ``num_features``
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


@dataclass
class OptimConfig:
    lr: float = 1e-4  # paper: AdamW, 1e-4
    weight_decay: float = 0.05
    epochs: int = 20
    scheduler: str = "cosine"  # "cosine" or "constant"


@dataclass
class TrainerConfig:
    accelerator: str = "auto"
    devices: str = "1"  # a count, a list like "0,1", or "auto"
    num_nodes: int = 1
    strategy: str = "auto"  # "ddp" for several processes
    precision: str = "auto"  # "auto": bf16-mixed on a CUDA GPU, 32-true on CPU
    # Clips per device per forward pass; None: each device's whole share of the global batch.
    # Smaller: gradient accumulation makes up the global batch (end-to-end training at batch 4096).
    micro_batch_size: int | None = None
    # torch CPU threads; 0: torch's default (all cores). Small models on a busy machine train many
    # times faster on 1 thread (measured: 3 s against 47 s per demo epoch with another job running).
    threads: int = 0
    seed: int = 0
    deterministic: bool = False
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
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


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


def load_config_args(config: str | None, overrides: list[str]) -> RunConfig:
    """``load_config`` for a command line ``[CONFIG] [KEY=VALUE …]`` whose file is optional;
    CONFIG is a YAML file or the name of one shipped with the package (``paper``, ``demo``, …)."""
    overrides = list(overrides)
    if config is not None and "=" in config and not Path(config).is_file():
        config, overrides = None, [config, *overrides]
    return load_config(resolve_config(config), overrides)


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
