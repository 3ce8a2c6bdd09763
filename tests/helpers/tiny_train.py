"""A tiny Aff-Wild2-layout root with an in-memory feature store, and a seconds-long training
configuration on it: the same data every time it is made (for runs compared across processes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vnaw.config import RunConfig, load_config
from vnaw.data.affwild2 import write_annotation

FEATURE_DIM = 16


class ArrayStore:
    """In-memory stand-in for a feature store: features that encode the label plus noise."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays
        self.feature_size = FEATURE_DIM
        self.erased_views = 0
        self.encoder = {"name": "synthetic features", "weights": None, "weights_hash": ""}

    def features(self, name: str, view: int = 0) -> np.ndarray:
        return self.arrays[name]


def tiny_data(root: Path) -> tuple[Path, ArrayStore]:
    """Write (once) 6 training and 2 validation videos under ``root``; their features."""
    rng = np.random.default_rng(0)
    arrays = {}
    blank = Image.fromarray(np.zeros((8, 8), dtype=np.uint8))
    for split, count in (("Train_Set", 6), ("Validation_Set", 2)):
        for v in range(count):
            name = f"{split[:3].lower()}{v}"
            n = int(rng.integers(40, 70))
            labels = rng.choice([0, 4, 5, 7, 1], n)
            crops = root / "cropped_aligned" / name
            if not crops.is_dir():
                write_annotation(root / split / f"{name}.txt", labels)
                crops.mkdir(parents=True)
                for k in range(n):
                    blank.save(crops / f"{k + 1:05d}.jpg")
            feats = rng.normal(0, 1.0, (n, FEATURE_DIM))
            feats[np.arange(n), labels] += 3.0
            arrays[name] = feats.astype(np.float16)
    return root, ArrayStore(arrays)


def tiny_cfg(root: Path, out: Path, **extra) -> RunConfig:
    overrides = [
        "augment.erase=false",
        f"data.root={root}",
        f"out_dir={out}",
        "data.clip_length=16",
        "data.clips_per_epoch=96",
        "data.batch_size=8",
        "model.d_model=16",
        "model.num_layers=1",
        "model.num_heads=2",
        "model.dim_feedforward=32",
        "model.dropout=0.1",
        "optim.lr=5e-3",
        "optim.epochs=3",
        "trainer.progress_bar=false",
        "trainer.accelerator=cpu",
    ] + [f"{k}={v}" for k, v in extra.items()]
    return load_config(overrides=overrides)
