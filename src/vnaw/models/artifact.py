"""A trained video model on disk: what a run directory holds to predict, and how it is read.

``vnaw train`` writes, and ``vnaw evaluate`` / ``predict`` / ``export`` / ``submit`` read::

    RUN/config.yaml          the run's resolved configuration (vnaw.config.RunConfig)
    RUN/model.safetensors    the temporal model of the best epoch
    RUN/encoder.json         the image encoder it was trained with: its identity (name, weights
                             file, SHA-256 prefix, input size, channels, normalisation) and
                             whether it was trained in this run
    RUN/encoder.safetensors  the encoder's trunk weights when the run trained them (end-to-end
                             mode with encoder.finetune) or when they come from a file of the
                             user's (copied in, its hash checked first)

A run is thus self-contained except for the shipped encoder, named by its identity (and refused by
a vnaw whose shipped encoder changed), and a seeded random initialisation, named by its seed: the
folder can be moved or copied to another machine. Every file is written atomically; every read error is a
:class:`~vnaw.errors.ModelFileError` naming the file. Nothing here imports Lightning, and PyTorch
only loads once a model is built: a wrong run path fails at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vnaw.config import RunConfig, load_config
from vnaw.errors import ConfigError, ModelFileError
from vnaw.files import atomic_json, load_into, load_state_dict, load_torch, save_safetensors
from vnaw.models.meta import (
    SMOOTH_HALF_WIDTH,
    EncoderMeta,
    default_encoder_path,
    read_logit_bias,
    require_encoder,
)

if TYPE_CHECKING:
    from vnaw.models.frame_encoder import Encoder
    from vnaw.models.video import VideoModel

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.safetensors"
ENCODER_FILE = "encoder.json"
ENCODER_WEIGHTS = "encoder.safetensors"


def save_run_model(
    run_dir: str | Path,
    temporal_state: dict[str, Any],
    encoder_identity: dict[str, Any],
    *,
    encoder_meta: EncoderMeta | None = None,
    encoder_state: dict[str, Any] | None = None,
    trained: bool = True,
    epoch: int | None = None,
) -> None:
    """Write the model files of a run; ``encoder_state`` (with its ``encoder_meta``) when the run
    trained the encoder (``trained``) or keeps a copy of a user's encoder file."""
    run_dir = Path(run_dir)
    kept = encoder_state is not None
    if kept:
        assert encoder_meta is not None
        save_safetensors(run_dir / ENCODER_WEIGHTS, encoder_state)
    else:
        (run_dir / ENCODER_WEIGHTS).unlink(missing_ok=True)
    atomic_json(
        run_dir / ENCODER_FILE,
        {
            "identity": encoder_identity,
            "trained_in_run": kept and trained,
            "copied": kept and not trained,
            "meta": json.loads(encoder_meta.to_json()) if kept else None,
        },
    )
    meta = {"epoch": str(epoch if epoch is not None else "")}
    save_safetensors(run_dir / MODEL_FILE, temporal_state, metadata=meta)


def run_dir_of(path: str | Path) -> tuple[Path, Path]:
    """``(run directory, temporal weights)`` of a run directory or a checkpoint inside one."""
    path = Path(path)
    if path.is_dir():
        run_dir, weights = path, path / MODEL_FILE
    elif path.suffix == ".ckpt":
        run_dir, weights = path.parent.parent, path
    else:
        raise ModelFileError(f"{path}: not a run directory or a .ckpt checkpoint inside one")
    if not (run_dir / CONFIG_FILE).is_file():
        raise ModelFileError(f"{run_dir / CONFIG_FILE}: missing; is {run_dir} a vnaw run?")
    if not weights.is_file():
        raise ModelFileError(f"{weights}: missing (has the run finished an epoch?)")
    return run_dir, weights


def load_run_config(run_dir: Path) -> RunConfig:
    path = run_dir / CONFIG_FILE
    if not path.read_bytes().strip():  # defaults would fit no weights: blame the file, not them
        raise ModelFileError(f"{path}: empty; not a run configuration")
    try:
        return load_config(path)
    except ConfigError as err:
        why = str(err).removeprefix(f"{path}: ")
        raise ModelFileError(f"{path}: not a run configuration ({why})") from None


def _temporal_state(weights: Path) -> dict[str, Any]:
    if weights.suffix != ".ckpt":
        return load_state_dict(weights)
    ckpt = load_torch(weights)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ModelFileError(f"{weights}: not a vnaw training checkpoint (no state_dict)")
    prefix = "model.temporal."
    return {
        k.removeprefix(prefix): v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)
    }


def run_encoder(run_dir: Path, cfg: RunConfig) -> tuple[Encoder, str]:
    """The image encoder of a run and how to name it to a user ("trained in this run" or its file)."""
    from vnaw.models.encoder import build_trunk
    from vnaw.models.frame_encoder import Encoder, encoder_from_identity

    info_file = run_dir / ENCODER_FILE
    if info_file.is_file():
        try:
            info = json.loads(info_file.read_text())
            ident = info["identity"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ModelFileError(f"{info_file}: not a vnaw encoder record ({err})") from None
    else:  # a run written before encoder.json existed: the store or the config names it
        ident, info = _legacy_identity(cfg), {"trained_in_run": False}
    trained, copied = bool(info.get("trained_in_run")), bool(info.get("copied"))
    if not (trained or copied):
        enc = encoder_from_identity(ident, source=str(run_dir))
        return enc, f"{enc.name} ({enc.weights or 'random init'})"
    meta = EncoderMeta.from_dict(info["meta"], source=str(info_file))
    trunk = build_trunk(meta)
    weights = run_dir / ENCODER_WEIGHTS
    load_into(trunk, load_state_dict(weights), weights)
    name = ident.get("name", meta.backbone)
    if copied:
        enc = Encoder(trunk.eval(), meta, name, str(weights), ident.get("weights_hash", ""))
        return enc, f"{enc.name} (copied into the run: {weights})"
    enc = Encoder(trunk.eval(), meta, name, None, "trained-in-run")
    return enc, f"{enc.name}, fine-tuned in this run ({weights})"


def _legacy_identity(cfg: RunConfig) -> dict[str, Any]:
    manifest = Path(cfg.data.features or "") / "manifest.json"
    if cfg.data.features and manifest.is_file():
        return json.loads(manifest.read_text())["encoder"]
    return {"name": cfg.encoder.name or "default", "weights": cfg.encoder.name}


def load_video_model(
    path: str | Path, *, with_encoder: bool = True
) -> tuple[VideoModel, RunConfig]:
    """The trained video model of a run (directory or a checkpoint inside it), in eval mode.

    ``with_encoder=False`` skips the image encoder (evaluation on cached features)."""
    run_dir, weights = run_dir_of(path)
    cfg = load_run_config(run_dir)
    from vnaw.models.temporal import TemporalEncoder
    from vnaw.models.video import VideoModel

    temporal = TemporalEncoder(cfg.model)
    load_into(temporal, _temporal_state(weights), weights)
    encoder, which = run_encoder(run_dir, cfg) if with_encoder else (None, "cached features")
    if encoder is not None and encoder.meta.feature_size != cfg.model.feature_dim:
        raise ModelFileError(
            f"{run_dir}: the temporal model expects {cfg.model.feature_dim}-d features but the "
            f"encoder {encoder.name} gives {encoder.meta.feature_size}"
        )
    model = VideoModel(
        temporal,
        encoder,
        clip_length=cfg.data.clip_length,
        stride=cfg.data.eval_stride,
        description=f"model {run_dir}: encoder {which} + temporal model (P = {cfg.data.clip_length}"
        + (
            f", person baseline: {cfg.model.person_baseline})"
            if cfg.model.person_baseline != "none"
            else ")"
        ),
    )
    model.run_dir = run_dir
    return model.eval(), cfg


def default_video_model(
    smooth: int = SMOOTH_HALF_WIDTH, encoder: str | Path | None = None
) -> VideoModel:
    """An image encoder alone (no temporal model): smoothed per-frame probabilities. ``encoder``:
    an encoder file (e.g. ``RUN/encoder`` of ``vnaw pretrain``); ``None``: the shipped one."""
    # Deviation: the paper always predicts with a temporal model; none can be shipped (it is
    # trained on Aff-Wild2, which is licensed), so without a run the shipped encoder's per-frame
    # probabilities are smoothed over neighbouring frames instead (design §8).
    from vnaw.models.frame_encoder import load_encoder
    from vnaw.models.video import VideoModel

    if encoder is not None:
        require_encoder(encoder, "--encoder")
    which = "the shipped image encoder" if encoder is None else f"the image encoder {encoder}"
    model = VideoModel(
        None,
        load_encoder(encoder),
        smooth=smooth,
        description=(
            f"no --model given: per-frame probabilities of {which}, smoothed "
            f"over ±{smooth} frames (no temporal model)"
        ),
    ).eval()
    model.logit_bias = read_logit_bias(default_encoder_path() if encoder is None else encoder)
    return model
