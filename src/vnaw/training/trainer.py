"""The Lightning trainer's settings, from the ``trainer`` section that V-NAW training and encoder
pretraining share (:class:`vnaw.config.TrainerConfig`): one reading of devices, strategy and
precision, and the pieces every vnaw trainer has (safe checkpoint I/O, quiet console)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from vnaw.config import TrainerConfig
from vnaw.training.checkpoints import SafeCheckpointIO


def parse_devices(value: str) -> int | list[int] | str:
    """``trainer.devices`` as Lightning takes it: ``"auto"``, a count, or a list like ``"0,1"``."""
    if value == "auto":
        return value
    if "," in value:
        return [int(v) for v in value.split(",") if v]
    return int(value)


def resolve_precision(t: TrainerConfig) -> str:
    """``auto`` → bf16 mixed precision on a CUDA GPU, full fp32 elsewhere."""
    if t.precision != "auto":
        return t.precision
    wants_gpu = t.accelerator in ("auto", "gpu", "cuda")
    return "bf16-mixed" if wants_gpu and torch.cuda.is_available() else "32-true"


def resolve_strategy(t: TrainerConfig) -> str:
    """``auto`` → DDP when the run spans several devices or nodes, else Lightning's choice."""
    if t.strategy != "auto":
        return t.strategy
    devices = parse_devices(t.devices)
    several = (isinstance(devices, int) and devices > 1) or (
        isinstance(devices, list) and len(devices) > 1
    )
    return "ddp" if several or t.num_nodes > 1 else "auto"


def seed_and_threads(t: TrainerConfig) -> None:
    """Seed every generator (data-loader workers too) and set torch's CPU threads."""
    L.seed_everything(t.seed, workers=True, verbose=False)
    if t.threads > 0:
        torch.set_num_threads(t.threads)


def trainer_kwargs(t: TrainerConfig, *, epochs: int, progress_bar: bool) -> dict[str, Any]:
    """``L.Trainer`` arguments for ``t``; the caller adds its logger, callbacks and loop settings."""
    return {
        "max_epochs": epochs,
        "accelerator": t.accelerator,
        "devices": parse_devices(t.devices),
        "num_nodes": t.num_nodes,
        "strategy": resolve_strategy(t),
        "precision": resolve_precision(t),
        # "warn": deterministic algorithms, a warning for an op that has none; None leaves
        # torch's setting as the caller left it (False would switch off what a caller set).
        "deterministic": "warn" if t.deterministic else None,
        "plugins": [SafeCheckpointIO()],  # weights-only reads, atomic writes
        "enable_progress_bar": progress_bar,
        "enable_model_summary": False,
    }
