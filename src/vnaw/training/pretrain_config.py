"""Configuration of ``vnaw pretrain`` (NLA pretraining of the image encoder, paper §3.5): typed
defaults here, a YAML file over them, ``--set key=value`` last; unknown keys are errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vnaw.config import merge_structured, resolve_config
from vnaw.errors import ConfigError
from vnaw.losses.naw import NAW_DEFAULTS
from vnaw.models.encoder import EncoderMeta
from vnaw.models.meta import FRAMINGS


@dataclass
class DataConfig:
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


# Deviation: the paper's encoder is a Swin Transformer at 224 px (on FERPlus + RAF-DB + AffectNet);
# the default trunk here must train from scratch on CPU (design §5). The from-scratch recipe (the
# shipped encoder's until 2026-12-01; it now starts from dlib's face-recognition trunk,
# scripts/train_default_encoder.sh): a half-width ResNet-18 (stages 32-64-128-256) without the stem
# max-pool, 48 px grey — it fits 2 CPU cores (≈3–4 min per NLA epoch on FERPlus, 1 thread) and
# keeps 24×24 maps for small faces.
RECIPE_BACKBONE = "resnet18"
RECIPE = {
    "model_kwargs": {"channels": [32, 64, 128, 256], "stem_width": 32},
    "stem_pool": False,
    "input_size": 48,  # FERPlus native size; larger inputs only upsample its faces
    "channels": 1,  # FERPlus is grey; RGB inputs are converted at inference
    "mean": [0.5],  # ≈ FERPlus train pixel statistics
    "std": [0.25],
}


@dataclass
class ModelConfig:
    backbone: str = RECIPE_BACKBONE  # any timm model name, e.g. swin_tiny_patch4_window7_224
    # Unset (None) fields take those of the model.init encoder when there is one (so
    # `model.init=default` fine-tunes the shipped encoder as it is), else the from-scratch recipe
    # above for resnet18 and timm's own settings for any other backbone (its input size, ImageNet
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
class LossConfig:
    kind: str = "nla"  # "nla" (design §5) or "ce" (eq. 10)
    lam: float = 0.5  # λ of L = λ·L_NAW + (1−λ)·L_JSD
    naw: bool = True  # False: NLA with plain CE in place of L_NAW (ablation)
    normalize: bool = True  # C = 1/(2π√|Σ|) in eq. 11
    detach: bool = False  # the NLA reference back-propagates through w
    epsilon_rate: float = NAW_DEFAULTS.epsilon_rate  # ε = 1 − exp(−rate·e/E)
    # FERPlus vote distributions as targets (one-hot where a set has no votes); losses/soft.py.
    soft: bool = False
    # Distillation (losses/soft.py): encoders ("default" or paths) whose averaged, mirror-averaged
    # probabilities on each training image are mixed into its target with weight teacher_weight.
    teacher: list[str] = field(default_factory=list)
    teacher_weight: float = 0.5


@dataclass
class AugConfig:
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
    # "cosine" (after the warm-up) or "exponential": lr × gamma per epoch, NLA's reference schedule.
    schedule: str = "cosine"
    gamma: float = 0.9


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
    max_steps: int = -1  # stop after this many optimiser steps (timing and memory runs); -1: off


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
    for o in overrides or []:
        if o.startswith("model.name="):
            raise ConfigError(
                f"{o}: the timm model is set with model.backbone (e.g. "
                "model.backbone=swin_tiny_patch4_window7_224)"
            )
    out: PretrainConfig = merge_structured(PretrainConfig, resolve_config(yaml_path), overrides)
    validate_config(out)
    return out


def validate_config(cfg: PretrainConfig) -> None:
    if cfg.loss.kind not in ("nla", "ce"):
        raise ConfigError(f"loss.kind must be 'nla' or 'ce', got {cfg.loss.kind!r}")
    if not 0.0 <= cfg.data.label_noise < 1.0:
        raise ConfigError(f"data.label_noise must be in [0, 1), got {cfg.data.label_noise}")
    if cfg.data.label_source not in ("majority", "vote"):
        raise ConfigError(
            f"data.label_source must be 'majority' or 'vote', got {cfg.data.label_source!r}"
        )
    noisy = cfg.data.label_noise > 0 or cfg.data.label_source == "vote"
    if cfg.data.label_noise > 0 and cfg.data.label_source == "vote":
        raise ConfigError("data.label_noise cannot be combined with data.label_source=vote")
    if cfg.loss.soft and noisy:
        # The votes would hand the clean labels back to a run meant to see noisy ones.
        raise ConfigError("loss.soft cannot be combined with data.label_noise or label_source=vote")
    if not 0.0 <= cfg.loss.teacher_weight <= 1.0:
        raise ConfigError(f"loss.teacher_weight must be in [0, 1], got {cfg.loss.teacher_weight}")
    if cfg.loss.teacher and noisy:
        raise ConfigError(
            "loss.teacher cannot be combined with data.label_noise or label_source=vote"
        )
    if cfg.optim.schedule not in ("cosine", "exponential"):
        raise ConfigError(
            f"optim.schedule must be 'cosine' or 'exponential', got {cfg.optim.schedule!r}"
        )
    if cfg.optim.optimizer not in ("sgd", "adam"):
        raise ConfigError(f"optim.optimizer must be 'sgd' or 'adam', got {cfg.optim.optimizer!r}")
    if cfg.model.framing is not None and cfg.model.framing not in FRAMINGS:
        raise ConfigError(f"model.framing must be one of {FRAMINGS}, got {cfg.model.framing!r}")
    if cfg.optim.epochs < 1 or cfg.optim.batch_size < 1:
        raise ConfigError("optim.epochs and optim.batch_size must be positive")


def encoder_meta(cfg: ModelConfig, train: Sequence[str] = ()) -> EncoderMeta:
    """The encoder that ``cfg`` describes, unset fields resolved (see :class:`ModelConfig`), framed
    like the ``train`` data specs' images (:func:`vnaw.data.static.framing_of`)."""
    from vnaw.data.static import framing_of

    if cfg.init and (init := _init_meta(cfg.init)).backbone == cfg.backbone:
        base = {k: getattr(init, k) for k in RECIPE}  # fine-tuning: the encoder's own settings
    elif cfg.backbone == RECIPE_BACKBONE:
        base = RECIPE
    else:
        base = {
            "model_kwargs": {},
            "stem_pool": True,
            "channels": 3,
            **_timm_defaults(cfg.backbone),
        }
    value = {k: getattr(cfg, k) if getattr(cfg, k) is not None else v for k, v in base.items()}
    return EncoderMeta(
        backbone=cfg.backbone,
        model_kwargs=dict(value["model_kwargs"]),
        stem_pool=value["stem_pool"],
        input_size=value["input_size"],
        channels=value["channels"],
        mean=_per_channel(value["mean"], value["channels"]),
        std=_per_channel(value["std"], value["channels"]),
        framing=cfg.framing or framing_of(train),
    )


def _init_meta(init: str) -> EncoderMeta:
    """The settings of the encoder ``model.init`` names ("default" or a file of the pair)."""
    from vnaw.models.meta import encoder_paths, read_meta, require_encoder

    return read_meta(encoder_paths(require_encoder(init, "model.init"))[1])


def _timm_defaults(backbone: str) -> dict[str, Any]:
    import timm

    pcfg = timm.get_pretrained_cfg(backbone)
    if pcfg is None:
        raise ConfigError(
            f"model.backbone={backbone!r} is not a timm model name (e.g. resnet18, "
            "swin_tiny_patch4_window7_224, convnext_tiny)"
        )
    return {"input_size": pcfg.input_size[-1], "mean": list(pcfg.mean), "std": list(pcfg.std)}


def _per_channel(values: list[float], channels: int) -> tuple[float, ...]:
    """ImageNet's RGB statistics for a grey input: their mean."""
    values = list(values)
    if channels == 1 and len(values) == 3:
        return (sum(values) / 3,)
    return tuple(values)
