"""The run artifact (vnaw.models.artifact) and the one preprocessing path (vnaw.models.preprocess).

* A run that fine-tunes the encoder end to end keeps it: reloaded from the run directory, the
  video model gives the predictions of the model in memory at the end of training.
* The same crop gives the same features through feature extraction and through ``vnaw predict``'s
  encoder path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

import lightning as L
import torch

from helpers.tiny_run import make_run
from vnaw.config import load_config
from vnaw.data.affwild2 import index_dataset
from vnaw.data.synth import SynthConfig, generate
from vnaw.errors import ModelFileError
from vnaw.features.extract import extract
from vnaw.features.store import FeatureStore
from vnaw.models.artifact import ENCODER_WEIGHTS, load_video_model
from vnaw.models.encoder import ImageClassifier
from vnaw.models.frame_encoder import load_encoder


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("synth")
    generate(r, SynthConfig(seed=5, videos=4, frames=30, size=64))
    return r


class _Keep(L.Callback):
    """Keeps the video model as it is in memory when training ends."""

    def on_train_end(self, trainer, pl_module) -> None:
        self.model = pl_module.model


def test_finetuned_encoder_round_trip(root: Path, tmp_path: Path) -> None:
    from vnaw.training.train import train

    cfg = load_config(
        overrides=[
            "mode=end-to-end",
            "encoder.finetune=true",
            f"data.root={root}",
            f"out_dir={tmp_path / 'run'}",
            "data.clip_length=8",
            "data.batch_size=4",
            "data.clips_per_epoch=8",
            "model.d_model=16",
            "model.num_layers=1",
            "model.num_heads=2",
            "model.dim_feedforward=32",
            "optim.epochs=1",
            "optim.lr=1e-4",  # the paper's (AdamW); 0.01 wrecks the trunk in one step
            "augment.erase=false",
            "trainer.progress_bar=false",
            "trainer.accelerator=cpu",
        ]
    )
    keep = _Keep()
    run_dir = train(cfg, callbacks=[keep])
    assert (run_dir / ENCODER_WEIGHTS).is_file()
    info = json.loads((run_dir / "encoder.json").read_text())
    assert info["trained_in_run"] and info["identity"]["name"].startswith("default:")

    shipped = ImageClassifier.from_default().trunk.state_dict()
    trained = keep.model.encoder.state_dict()
    assert any(not torch.equal(trained[k].float(), v.float()) for k, v in shipped.items())

    loaded, _ = load_video_model(run_dir)
    assert "fine-tuned in this run" in loaded.description
    g = torch.Generator().manual_seed(0)
    m = loaded.meta
    frames = torch.randn(2, 8, m.channels, m.input_size, m.input_size, generator=g)
    present = torch.rand(2, 8, generator=g) > 0.3
    present[:, 0] = True
    with torch.no_grad():
        want = keep.model.eval()(frames, present).probs
        got = loaded(frames, present).probs
    assert torch.isfinite(want).all()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    # Without the trained encoder the run is incomplete, and says so.
    (run_dir / ENCODER_WEIGHTS).unlink()
    with pytest.raises(ModelFileError, match=ENCODER_WEIGHTS):
        load_video_model(run_dir)


def test_run_names_an_untrained_encoder_and_checks_its_hash(tmp_path: Path) -> None:
    enc_file = tmp_path / "enc"
    ImageClassifier.from_default().save(enc_file)
    run = make_run(tmp_path / "run")
    info = json.loads((run / "encoder.json").read_text())
    info["identity"] = load_encoder(enc_file).identity()
    (run / "encoder.json").write_text(json.dumps(info))
    model, _ = load_video_model(run)
    assert str(enc_file.with_suffix(".safetensors")) in model.description
    # The named file changed since the run used it: refused, naming the file.
    clf = ImageClassifier.from_file(enc_file)
    with torch.no_grad():
        clf.head.bias.add_(1.0)
    clf.save(enc_file)
    with pytest.raises(ModelFileError, match=r"enc\.safetensors: its content changed"):
        load_video_model(run)


def test_a_run_made_with_another_shipped_encoder_is_refused(tmp_path: Path) -> None:
    """The shipped weights change between releases: a run that recorded the old ones must not
    silently get the new ones (its temporal model was trained on the old features)."""
    run = make_run(tmp_path / "run")
    info = json.loads((run / "encoder.json").read_text())
    info["identity"] = load_encoder("default").identity()
    (run / "encoder.json").write_text(json.dumps(info))
    assert load_video_model(run)[0].encoder is not None  # the same shipped weights: accepted
    info["identity"]["weights_hash"] = "0123456789abcdef"  # recorded by an older release
    (run / "encoder.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError, match=r"shipped default encoder is not the one"):
        load_video_model(run)


def test_extraction_and_predict_give_the_same_features(root: Path, tmp_path: Path) -> None:
    """One crop, two paths: `vnaw extract` (decode the JPEG in a worker, preprocess, trunk) and
    `vnaw predict` (the aligned crop in memory, preprocess, trunk)."""
    records = index_dataset(root)
    rec = records[0]
    k = int(np.flatnonzero(rec.has_crop)[0])
    store = tmp_path / "store"
    encoder = load_encoder("default")
    extract([rec], store, encoder, batch_size=8, progress=False)
    stored = FeatureStore(store).features(rec.name)[k].astype(np.float32)

    crop = np.asarray(Image.open(rec.crop_path(k)).convert("RGB"))  # what predict would align
    model = load_video_model(make_run(tmp_path / "run"))[0]
    served = model.frame_outputs([crop])[0]
    assert served.shape == stored.shape == (encoder.meta.feature_size,)
    np.testing.assert_allclose(served, stored, atol=1e-2 * max(1.0, np.abs(served).max()))
    # fp16 storage is the only difference: well inside half-precision rounding.
    assert np.abs(served - stored).max() <= 4e-3 * np.abs(served).max() + 1e-3
