"""``model.feature_dim`` follows the features unless given; a given size that differs is an
error; the caller's configuration is never changed (the resolved copy is the one saved)."""

from __future__ import annotations

import numpy as np
import pytest

from vnaw.config import load_config
from vnaw.data.affwild2 import index_dataset
from vnaw.data.synth import SynthConfig, generate
from vnaw.errors import ConfigError
from vnaw.features.extract import extract
from vnaw.models.frame_encoder import load_encoder
from vnaw.training.train import build


def test_feature_dim_is_resolved_on_a_copy_or_refused(tmp_path) -> None:
    root, store = tmp_path / "data", tmp_path / "store"
    generate(root, SynthConfig(seed=5, videos=4, frames=16, size=32))
    records = index_dataset(root)
    extract(records, store, load_encoder("resnet18", random_init=True, input_size=32, seed=0),
            progress=False)  # fmt: skip
    size = np.load(next(store.glob("*.npy")), mmap_mode="r").shape[-1]
    overrides = [f"data.root={root}", f"data.features={store}", "augment.erase=false"]

    cfg = load_config(overrides=overrides)
    module, _ = build(cfg)
    assert module.cfg.model.feature_dim == size == module.model.temporal.proj.in_features
    assert cfg.model.feature_dim is None  # the loaded configuration is left as it was

    assert build(load_config(overrides=[*overrides, f"model.feature_dim={size}"]))[0]
    with pytest.raises(
        ConfigError, match=rf"model\.feature_dim=7, but the feature store .*{size}-d"
    ):
        build(load_config(overrides=[*overrides, "model.feature_dim=7"]))
