"""The muxspace reader's fixed split and the soft-target loss (issue 13), on generated data only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from vnaw.data.muxspace import person_of, read_labels, read_muxspace, split_parts
from vnaw.data.static import read_spec
from vnaw.labels import class_index
from vnaw.losses.naw import nla_loss
from vnaw.losses.soft import soft_nla_loss, vote_targets

EMOTIONS = ("anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")


def _make_muxspace(root: Path, persons: int = 40, seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = ["image,emotion"]
    for p in range(persons):
        for k in range(1 + p % 4):
            name = f"Person_{p}_{k + 1:04d}.jpg"
            rows.append(f"{name},{EMOTIONS[(p + k) % len(EMOTIONS)]}")
            pixels = rng.integers(0, 256, (20, 20), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "images" / name)
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


def test_split_is_fixed_person_disjoint_and_complete(tmp_path: Path) -> None:
    _make_muxspace(tmp_path)
    names, labels = read_labels(tmp_path)
    assert labels[0] == class_index("Anger") and class_index("Other") in labels  # contempt
    parts = split_parts(names, labels)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(len(names)))
    persons = {k: {person_of(names[i]) for i in v} for k, v in parts.items()}
    assert not persons["train"] & persons["test"]
    assert not persons["train"] & persons["val"] and not persons["val"] & persons["test"]
    assert 0.15 < len(parts["test"]) / len(names) < 0.45
    again = split_parts(names, labels)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    held = read_spec(f"muxspace@test:{tmp_path}")
    assert len(held) == len(parts["test"]) and held.source[0] == "muxspace/test"
    with pytest.raises(ValueError, match="split"):
        read_muxspace(tmp_path, "everything")


def test_vote_targets_drop_single_votes_and_fall_back_to_one_hot() -> None:
    votes = np.array([[6, 1, 0, 0, 0, 0, 0, 3], [np.nan] * 8], dtype=np.float32)
    t = vote_targets(votes, np.array([0, 4]))
    np.testing.assert_allclose(t[0], [6 / 9, 0, 0, 0, 0, 0, 0, 3 / 9], rtol=1e-6)
    np.testing.assert_allclose(t[1], np.eye(8)[4])


def test_soft_loss_with_one_hot_targets_equals_nla() -> None:
    g = torch.Generator().manual_seed(0)
    logits, flipped = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    onehot = torch.eye(8)[labels]
    ref, _ = nla_loss(logits, flipped, labels, 0.7)
    soft, _ = soft_nla_loss(logits, flipped, labels, onehot, 0.7)
    assert torch.allclose(ref, soft, atol=1e-6)
    ce, _ = soft_nla_loss(logits, None, labels, onehot)
    assert torch.allclose(ce, torch.nn.functional.cross_entropy(logits, labels), atol=1e-6)


def test_tiny_pretrain_with_soft_targets_and_muxspace(tmp_path: Path) -> None:
    import json

    from helpers.ferplus_fake import make_ferplus
    from vnaw.cli import build_parser

    make_ferplus(tmp_path / "ferplus", repeats=2)
    _make_muxspace(tmp_path / "mux", persons=12)
    parser = build_parser()
    out = tmp_path / "run"
    args = parser.parse_args(
        [
            "pretrain",
            "--data",
            f"ferplus:{tmp_path / 'ferplus'}",
            f"muxspace:{tmp_path / 'mux'}",
            "--epochs",
            "1",
            "--out",
            str(out),
            # KEY=VALUE words after the last option: the one configuration language of train.
            "loss.soft=true",
            "aug.gamma_prob=0.5",
            "aug.downscale_prob=0.5",
            "aug.blur_prob=0.5",
            "aug.jpeg_prob=0.5",
            "model.model_kwargs.channels=[8,16,32,64]",
            "model.model_kwargs.stem_width=8",
            "model.input_size=24",
            "optim.batch_size=8",
            "trainer.progress=false",
            "trainer.threads=1",
        ]
    )
    assert args.func(args) == 0
    results = json.loads((out / "results.json").read_text())
    # Validation = FERPlus valid + the muxspace val part; the held-out part is never derived.
    assert results["val"]["n"] > 16 and results["test"]["n"] == 16


def test_photometric_augmentations_keep_shape_and_range() -> None:
    from types import SimpleNamespace

    from vnaw.augment.photo import enabled, photometric

    aug = SimpleNamespace(
        gamma_prob=1.0,
        max_gamma=1.6,
        downscale_prob=1.0,
        min_downscale=0.4,
        blur_prob=1.0,
        max_blur_sigma=1.2,
        jpeg_prob=1.0,
        min_jpeg_quality=30,
    )
    g = torch.Generator().manual_seed(0)
    for c in (1, 3):
        x = torch.rand(4, c, 24, 24, generator=g)
        y = photometric(x, aug, g)
        assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0 + 1e-6
        assert not torch.equal(x, y)
    aug.gamma_prob = aug.downscale_prob = aug.blur_prob = aug.jpeg_prob = 0.0
    assert not enabled(aug)
