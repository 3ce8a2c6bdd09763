"""A truncated crop: `extract` stops naming it, or with skip_bad leaves its video out; `train`
(features mode) with data.skip_bad then trains without that video instead of failing."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from vnaw.config import load_config
from vnaw.data.affwild2 import index_dataset
from vnaw.data.synth import SynthConfig, generate
from vnaw.errors import DataError, StoreError
from vnaw.features.extract import extract
from vnaw.models.frame_encoder import load_encoder
from vnaw.training.train import build


def test_skip_bad_from_extract_to_train(tmp_path, capsys):
    root = tmp_path / "data"
    generate(root, SynthConfig(seed=4, videos=4, frames=16, size=32))
    records = index_dataset(root)
    victim = next(r for r in records if r.split == "Train_Set")
    crop = victim.crop_path(int(np.flatnonzero(victim.has_crop)[2]))
    crop.write_bytes(crop.read_bytes()[:60])
    encoder = load_encoder("resnet18", random_init=True, input_size=32, seed=0)
    store = tmp_path / "store"
    with pytest.raises(DataError, match=str(crop)):
        extract(records, store, encoder, progress=False)
    assert not list(store.glob("*.npy"))  # refused before any work
    done = extract(records, store, encoder, progress=False, skip_bad=True)
    assert sorted(done) == sorted(r.name for r in records if r is not victim)
    assert f"skipping video {victim.name}: {crop}" in capsys.readouterr().err

    overrides = [f"data.root={root}", f"data.features={store}", "augment.erase=false"]
    with pytest.raises(StoreError, match=victim.name):
        build(load_config(overrides=overrides))
    _, data = build(load_config(overrides=[*overrides, "data.skip_bad=true"]))
    trained = {r.name for r in data.records.train}
    assert victim.name not in trained and trained
    assert f"skipping video {victim.name}: not in {store}" in capsys.readouterr().err
