"""A tiny image-encoder file (a quarter-width ResNet-18 at 16 px grey, random weights): end-to-end
training tests in seconds, and a user encoder that is not the shipped one."""

from __future__ import annotations

from pathlib import Path

import torch

from vnaw.models.encoder import EncoderMeta, ImageClassifier


def tiny_encoder(path: Path, seed: int = 0) -> Path:
    """Write ``path.{safetensors,json}``; returns ``path``."""
    torch.manual_seed(seed)
    meta = EncoderMeta(
        model_kwargs={"channels": [8, 8, 16, 16], "stem_width": 8}, input_size=16, channels=1
    )
    ImageClassifier(meta).save(path)
    return path
