"""Tiny V-NAW training + evaluation on a generated Aff-Wild2-layout root (seconds on CPU)."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("torch")

import lightning as L
import torch

from helpers.tiny_train import FEATURE_DIM, ArrayStore, tiny_cfg
from vnaw.config import load_config
from vnaw.data.affwild2 import write_annotation
from vnaw.data.datamodule import split_records
from vnaw.evaluation.evaluate import evaluate, split_videos
from vnaw.models.artifact import load_video_model
from vnaw.training.train import train


def _episodes(rng, n):
    labels = np.empty(n, dtype=np.int64)
    k = 0
    while k < n:
        length = int(rng.integers(8, 25))
        labels[k : k + length] = rng.choice([0, 0, 4, 5, 7, 1])
        k += length
    labels[rng.random(n) < 0.05] = -1
    return labels


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("affwild2")
    rng = np.random.default_rng(0)
    arrays = {}
    blank = Image.fromarray(np.zeros((4, 4), dtype=np.uint8))
    for split, count in (("Train_Set", 6), ("Validation_Set", 2)):
        for v in range(count):
            name = f"{split[:3].lower()}{v}"
            n = int(rng.integers(40, 70))
            labels = _episodes(rng, n)
            write_annotation(root / split / f"{name}.txt", labels)
            crops = root / "cropped_aligned" / name
            crops.mkdir(parents=True)
            has_crop = rng.random(n) > 0.05
            for k in np.flatnonzero(has_crop):
                blank.save(crops / f"{k + 1:05d}.jpg")
            feats = rng.normal(0, 1.0, (n, FEATURE_DIM))
            feats[np.arange(n), np.where(labels >= 0, labels, rng.integers(0, 8, n))] += 3.0
            arrays[name] = feats.astype(np.float16)
    return root, ArrayStore(arrays)


def _cfg(root, out, **extra):
    return tiny_cfg(root, out, **{"optim.epochs": 5, **extra})


def test_train_then_evaluate(tiny_root, tmp_path):
    root, store = tiny_root
    cfg = _cfg(root, tmp_path / "run")
    run_dir = train(cfg, store=store)
    for name in (
        "config.yaml",
        "metrics.csv",
        "model.safetensors",
        "training.png",
        "naw_weights.npy",
    ):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["val_f1"].notna().sum() == 5  # one validation per epoch

    model, _ = load_video_model(run_dir, with_encoder=False)
    records = split_videos(root, "official")
    out = evaluate(model, records, store, tmp_path / "eval", progress=False)
    table = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert len(table) == sum(r.num_frames for r in records)
    probs = table[
        ["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"]
    ]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # The features carry the label: chance is about 12 % (5 of 8 classes occur), a 5-epoch run
    # of this tiny model reaches about 30 %.
    assert out["labels"]["macro_f1"] > 20.0
    assert (tmp_path / "eval" / "confusion.png").is_file()
    assert (tmp_path / "eval" / "naw_weights.png").is_file()
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["labels"]["frames"] > 0


class _Crash(L.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 2:
            raise RuntimeError("simulated crash")


def test_resume_after_crash_matches_uninterrupted(tiny_root, tmp_path):
    root, store = tiny_root
    short = {"optim.epochs": 3}
    whole = train(_cfg(root, tmp_path / "whole", **short), store=store)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(_cfg(root, tmp_path / "crash", **short), store=store, callbacks=[_Crash()])
    assert not (tmp_path / "crash" / "model.safetensors").exists()
    resumed = train(_cfg(root, tmp_path / "crash", **short), store=store, resume=True)
    assert len(pd.read_csv(resumed / "metrics.csv")["val_f1"].dropna()) == 3  # history kept
    a = pd.read_csv(whole / "metrics.csv")["val_f1"].dropna().to_numpy()
    b = pd.read_csv(resumed / "metrics.csv")["val_f1"].dropna().to_numpy()
    assert b[-1] == pytest.approx(a[-1], abs=1e-6)
    wa = load_video_model(whole, with_encoder=False)[0].state_dict()
    wb = load_video_model(resumed, with_encoder=False)[0].state_dict()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k])


def test_split_records_and_clean_labels_error(tiny_root):
    root, _ = tiny_root
    cfg = _cfg(root, "unused")
    rec = split_records(cfg)
    assert len(rec.train) == 6 and len(rec.val) == 2
    with pytest.raises(ValueError, match="folds_file"):
        split_records(_cfg(root, "unused", **{"data.split": "fold1"}))


@pytest.fixture(scope="module")
def synth_store(tmp_path_factory):
    """A small synthetic data set and its feature store (random-init encoder: plumbing only)."""
    from vnaw.data.affwild2 import index_dataset
    from vnaw.data.synth import SynthConfig, generate
    from vnaw.features.extract import extract
    from vnaw.models.frame_encoder import load_encoder

    root = tmp_path_factory.mktemp("synth")
    generate(root, SynthConfig(seed=3, videos=6, frames=40, size=32))
    store = tmp_path_factory.mktemp("store")
    enc = load_encoder("resnet18", random_init=True, input_size=32, seed=0)
    extract(index_dataset(root), store, enc, batch_size=64, progress=False)
    return root, store


def _cli_train(root, store, out, *extra):
    import subprocess
    import sys

    cmd = [
        sys.executable, "-m", "vnaw", "train",
        f"data.root={root}", f"data.features={store}", f"out_dir={out}",
        "data.clip_length=16", "data.batch_size=8", "data.clips_per_epoch=32",
        "model.d_model=16", "model.num_layers=1", "model.num_heads=2",
        "model.dim_feedforward=32", "model.dropout=0.0",
        "augment.frame_skip=false", "augment.erase=false",
        "optim.epochs=2", "optim.lr=1e-3", "trainer.progress_bar=false", "trainer.accelerator=cpu",
        *extra,
    ]  # fmt: skip
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return pd.read_csv(out / "metrics.csv")


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(synth_store, tmp_path):
    root, store = synth_store
    one = _cli_train(root, store, tmp_path / "one")
    two = _cli_train(root, store, tmp_path / "two", "--devices", "2", "--strategy", "ddp")
    # Same global batch (8 = 2 × 4 per process), no random augmentation, no dropout, and the loss
    # normalised by the global count of valid clips: the two processes together take exactly the
    # one-process steps, so the runs agree up to float reduction order.
    f1_one = one["val_f1"].dropna().to_numpy()
    f1_two = two["val_f1"].dropna().to_numpy()
    assert len(f1_two) == len(f1_one) == 2
    np.testing.assert_allclose(f1_two, f1_one, atol=0.01)
    a = load_video_model(tmp_path / "one", with_encoder=False)[0].state_dict()
    b = load_video_model(tmp_path / "two", with_encoder=False)[0].state_dict()
    for k in a:
        # Adam turns float-noise gradients of near-zero entries into steps of up to lr (1e-3).
        torch.testing.assert_close(a[k], b[k], atol=1e-3, rtol=0)


@pytest.mark.slow
def test_end_to_end_mode_trains_through_the_encoder(synth_store, tmp_path):
    """Encoder in the loop (frozen): in-frame erasing acts on pixels of the crops."""
    root, _ = synth_store
    cfg = load_config(
        overrides=[
            "mode=end-to-end",
            f"data.root={root}",
            f"out_dir={tmp_path / 'e2e'}",
            "data.clip_length=8",
            "data.batch_size=4",
            "data.clips_per_epoch=8",
            "model.d_model=16",
            "model.num_layers=1",
            "model.num_heads=2",
            "model.dim_feedforward=32",
            "optim.epochs=1",
            "trainer.progress_bar=false",
            "trainer.accelerator=cpu",
        ]
    )
    run_dir = train(cfg)
    _, cfg = load_video_model(run_dir)
    assert cfg.model.feature_dim == 256  # the shipped encoder's feature size
    module_state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)[
        "state_dict"
    ]
    from vnaw.models.encoder import ImageClassifier

    frozen = ImageClassifier.from_default().trunk.state_dict()
    for k, v in frozen.items():  # the frozen encoder did not move
        got = module_state[f"model.encoder.{k}"]
        torch.testing.assert_close(got, v.to(got.dtype))
