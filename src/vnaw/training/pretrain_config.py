"""Loading and resolving the configuration of ``vnaw pretrain`` (NLA pretraining of the image
encoder, paper §3.5): the schema is :class:`vnaw.config.PretrainConfig` (defaults ← a YAML file ←
``key=value`` overrides, unknown keys are errors); here are its checks and the encoder its
``model`` section describes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vnaw.config import (
    PretrainConfig,
    PretrainModelConfig,
    load_config_args,
    merge_structured,
    resolve_config,
)
from vnaw.errors import ConfigError
from vnaw.models.encoder import EncoderMeta
from vnaw.models.meta import FRAMINGS

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


def load_pretrain_args(config: str | None, overrides: list[str]) -> PretrainConfig:
    """:func:`load_config` for a command line ``[CONFIG] [KEY=VALUE …]``, as ``vnaw train``'s
    (:func:`vnaw.config.load_config_args`): CONFIG is a file or a shipped config's name."""
    return load_config_args(config, overrides, load=load_config)


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


def encoder_meta(cfg: PretrainModelConfig, train: Sequence[str] = ()) -> EncoderMeta:
    """The encoder that ``cfg`` describes, unset fields resolved (see :class:`PretrainModelConfig`), framed
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
