"""A tiny trained-looking run (random temporal model on the shipped encoder's features)."""

from __future__ import annotations

from pathlib import Path

import torch

from vnaw.config import RunConfig, save_config
from vnaw.models.artifact import CONFIG_FILE, save_run_model
from vnaw.models.frame_encoder import load_encoder
from vnaw.models.temporal import TemporalConfig, TemporalEncoder


def make_run(
    run_dir: Path, clip_length: int = 8, stride: int | None = 3, person_baseline: str = "none"
) -> Path:
    """``run_dir`` with the files of a trained run, as :func:`load_video_model` reads them."""
    encoder = load_encoder("default")
    cfg = RunConfig()
    cfg.data.clip_length, cfg.data.eval_stride = clip_length, stride
    cfg.model = TemporalConfig(
        feature_dim=encoder.meta.feature_size,
        d_model=32,
        num_layers=2,
        dim_feedforward=32,
        dropout=0.0,
        person_baseline=person_baseline,
    )
    torch.manual_seed(0)
    model = TemporalEncoder(cfg.model)
    if person_baseline == "token":  # a non-zero token embedding, so that it matters in a test
        torch.nn.init.normal_(model.baseline_embed)
    save_config(cfg, run_dir / CONFIG_FILE)
    save_run_model(run_dir, model.state_dict(), encoder.identity())
    return run_dir
