"""A tiny trained-looking run (random temporal model on the shipped encoder's features)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from vnaw.config import RunConfig, save_config
from vnaw.encoder import load_encoder
from vnaw.temporal import TemporalConfig, TemporalEncoder
from vnaw.train import CONFIG_FILE, MODEL_FILE


def make_run(run_dir: Path, clip_length: int = 8, stride: int | None = 3) -> Path:
    """``run_dir`` with ``config.yaml`` and ``model.safetensors`` that :func:`load_run` accepts."""
    _, meta = load_encoder("default")
    cfg = RunConfig()
    cfg.data.clip_length, cfg.data.eval_stride = clip_length, stride
    cfg.model = TemporalConfig(
        feature_dim=meta.feature_size, d_model=32, num_layers=2, dim_feedforward=32, dropout=0.0
    )
    torch.manual_seed(0)
    model = TemporalEncoder(cfg.model)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / CONFIG_FILE)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(run_dir / MODEL_FILE))
    return run_dir
