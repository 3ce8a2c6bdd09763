"""The frame encoder ``E`` of eq. 6 as video models use it: loaded by name, file or timm model,
and recorded by identity so that a feature store or a run can rebuild exactly the same one.

Sources: ``"default"`` (the encoder shipped in ``vnaw/weights/``), an encoder file written by
``vnaw pretrain`` (:class:`~vnaw.models.encoder.ImageClassifier`), or a timm model name with a
weights file the user has (safetensors, or a state dict read with ``weights_only``). Nothing is
downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vnaw.errors import ConfigError, ModelFileError
from vnaw.files import file_hash, load_into, load_state_dict
from vnaw.models.encoder import (
    DEFAULT_NAME,
    EncoderMeta,
    ImageClassifier,
    channels_last,
    default_encoder_path,
    encoder_paths,
)


@dataclass
class Encoder:
    """A frame encoder ``E`` of eq. 6 with how to feed it and where its weights came from.

    ``trunk(x)`` maps normalised ``(N, C, S, S)`` crops (:mod:`vnaw.models.preprocess`) to
    ``(N, meta.feature_size)`` features. :meth:`identity` is what a feature store or a run records
    so that :func:`encoder_from_identity` can rebuild the same encoder, checked by its hash.
    """

    trunk: nn.Module
    meta: EncoderMeta
    name: str  # "default:<backbone>", "<backbone>:<file stem>", or a timm name
    weights: str | None  # weights file, None for a seeded random initialisation
    weights_hash: str  # first 16 hex digits of its SHA-256, or "random-init-seed<n>"
    head: nn.Module | None = None  # the classifier head of an encoder file (8 classes)

    def identity(self) -> dict[str, Any]:
        m = self.meta
        return {
            "name": self.name,
            "weights": self.weights,
            "weights_hash": self.weights_hash,
            "input_size": int(m.input_size),
            "channels": int(m.channels),
            "mean": [float(v) for v in m.mean],
            "std": [float(v) for v in m.std],
            "feature_size": int(m.feature_size),
        }


def _is_encoder_file(name_or_file: str) -> bool:
    p = Path(name_or_file)
    return p.suffix in (".json", ".safetensors") or p.with_suffix(".json").is_file()


def load_encoder(
    name_or_file: str | os.PathLike[str] | None = DEFAULT_NAME,
    weights: str | os.PathLike[str] | None = None,
    *,
    random_init: bool = False,
    input_size: int | None = None,
    channels: int = 3,
    seed: int = 0,
) -> Encoder:
    """The frame encoder: ``"default"`` (the shipped one), an encoder file (either file of the
    ``.safetensors`` + ``.json`` pair, or their stem), or a timm model name, which needs ``weights``
    (safetensors, or a state dict read with ``weights_only``) unless ``random_init`` is asked for
    explicitly. Trunk in eval mode. Never downloads."""
    name = DEFAULT_NAME if name_or_file is None else str(name_or_file)
    if name == DEFAULT_NAME or _is_encoder_file(name):
        clf = ImageClassifier.load(name)
        wpath = (
            default_encoder_path().with_suffix(".safetensors")
            if name == DEFAULT_NAME
            else encoder_paths(name)[0].resolve()  # absolute: a run or store names it anywhere
        )
        label = (
            f"default:{clf.meta.backbone}"
            if name == DEFAULT_NAME
            else f"{clf.meta.backbone}:{Path(name).stem}"
        )
        return Encoder(
            clf.trunk.eval(), clf.meta, label, str(wpath), file_hash(wpath), clf.head.eval()
        )
    return _timm_encoder(name, weights, random_init, input_size, channels, seed)


def _timm_encoder(
    name: str,
    weights: str | os.PathLike[str] | None,
    random_init: bool,
    input_size: int | None,
    channels: int,
    seed: int,
) -> Encoder:
    import timm

    if weights is None and not random_init:
        raise ConfigError(
            f"encoder {name!r} has no weights: name its weights file (vnaw extract --weights, "
            "encoder.weights in a run configuration) or ask for random initialisation explicitly "
            "(vnaw extract --random-init)"
        )
    try:
        torch.manual_seed(seed)  # a random-init encoder is then the same in every process
        trunk = timm.create_model(name, pretrained=False, num_classes=0, in_chans=channels)
    except RuntimeError as err:  # timm: "Unknown model"
        raise ConfigError(f"encoder {name!r}: {err}") from None
    if weights is not None:
        state = load_state_dict(weights)
        own = trunk.state_dict()
        load_into(trunk, {k: v for k, v in state.items() if k in own}, weights)  # drops a head
    cfg = getattr(trunk, "pretrained_cfg", {}) or {}
    mean = list(cfg.get("mean", (0.485, 0.456, 0.406)))[:channels]
    std = list(cfg.get("std", (0.229, 0.224, 0.225)))[:channels]
    if channels == 1 and len(mean) != 1:
        mean, std = [float(np.mean(mean))], [float(np.mean(std))]
    meta = EncoderMeta(
        backbone=name,
        model_kwargs={},
        stem_pool=True,
        input_size=int(input_size or cfg.get("input_size", (3, 224, 224))[-1]),
        channels=channels,
        mean=tuple(mean),
        std=tuple(std),
        feature_size=int(trunk.num_features),
    )
    wpath = None if weights is None else str(Path(weights).resolve())
    digest = file_hash(weights) if weights is not None else f"random-init-seed{seed}"
    return Encoder(channels_last(trunk).eval(), meta, name, wpath, digest)


def is_user_file(ident: dict[str, Any]) -> bool:
    """Whether an identity names weights in a file of the user's (not the shipped encoder, not a
    seeded random initialisation): a run copies those in (:mod:`vnaw.models.artifact`)."""
    name = str(ident.get("name", DEFAULT_NAME))
    return bool(ident.get("weights")) and not (name == DEFAULT_NAME or name.startswith("default:"))


def encoder_from_identity(ident: dict[str, Any], source: str = "") -> Encoder:
    """Rebuild the encoder that a feature store or run recorded (:meth:`Encoder.identity`);
    refuses weights whose hash changed since."""
    name, weights = str(ident.get("name", DEFAULT_NAME)), ident.get("weights")
    digest = str(ident.get("weights_hash", ""))
    if name.startswith("default:") or name == DEFAULT_NAME:
        enc = load_encoder(DEFAULT_NAME)
    elif weights and _is_encoder_file(str(weights)):
        enc = load_encoder(weights)
    else:
        random = weights is None and digest.startswith("random-init-seed")
        enc = load_encoder(
            name,
            weights,
            random_init=random,
            input_size=ident.get("input_size"),
            channels=int(ident.get("channels", 3)),
            seed=int(digest.removeprefix("random-init-seed")) if random else 0,
        )
    if digest and enc.weights_hash != digest and name.startswith("default:"):
        raise ModelFileError(
            f"{enc.weights}: the shipped default encoder is not the one {source or 'the run'} "
            f"was made with (hash {enc.weights_hash}, recorded {digest}; vnaw updated since?); "
            "extract the features or train again with this one, or use the vnaw release that "
            "made it"
        )
    if digest and enc.weights_hash != digest:
        raise ModelFileError(
            f"{weights}: its content changed since {source or 'the run'} used it (hash "
            f"{enc.weights_hash}, recorded {digest}); name the encoder it was made with"
        )
    return enc
