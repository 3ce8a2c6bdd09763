"""Distillation targets (``loss.teacher``, issue 13): the mixing rule, the teacher ensemble's
probabilities and their cache, and the checks made before any data is read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from vnaw.errors import ConfigError, ModelFileError
from vnaw.losses.soft import distill_targets
from vnaw.models.encoder import EncoderMeta, ImageClassifier
from vnaw.training.pretrain import teacher_probs

TINY = {"channels": [8, 16, 32, 64], "stem_width": 8}


def _teacher(path: Path, seed: int) -> ImageClassifier:
    import torch

    torch.manual_seed(seed)
    model = ImageClassifier(EncoderMeta(model_kwargs=dict(TINY), input_size=24)).eval()
    with torch.no_grad():
        model.head.bias.copy_(torch.linspace(-2, 2, 8) * (1 if seed % 2 else -1))
    model.save(path)
    return model


def test_distill_targets_mix_linearly_and_stay_distributions() -> None:
    label = np.eye(8, dtype=np.float32)[[0, 3]]
    teacher = np.full((2, 8), 1 / 8, dtype=np.float32)
    np.testing.assert_allclose(distill_targets(label, teacher, 0.0), label)
    np.testing.assert_allclose(distill_targets(label, teacher, 1.0), teacher)
    mixed = distill_targets(label, teacher, 0.25)
    assert mixed[0, 0] == pytest.approx(0.75 + 0.25 / 8) and mixed[0, 1] == pytest.approx(1 / 32)
    np.testing.assert_allclose(mixed.sum(1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        distill_targets(label, teacher[:1], 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        distill_targets(label, teacher, 1.5)


def test_teacher_probs_average_the_teachers_and_are_reused(tmp_path: Path, monkeypatch) -> None:
    images = np.random.default_rng(0).integers(0, 256, (10, 24, 24), dtype=np.uint8)
    a, b = _teacher(tmp_path / "a", 1), _teacher(tmp_path / "b", 2)
    expected = (a.predict_proba(images) + b.predict_proba(images)) / 2
    teachers = [str(tmp_path / "a"), str(tmp_path / "b")]
    got = teacher_probs(teachers, images, tmp_path / "run")
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not np.allclose(a.predict_proba(images), b.predict_proba(images), atol=1e-3)

    # A resumed run reads them back without loading any teacher…
    def refuse(*_a, **_k):
        raise AssertionError("teacher loaded again")

    monkeypatch.setattr(ImageClassifier, "load", refuse)
    np.testing.assert_array_equal(teacher_probs(teachers, images, tmp_path / "run"), got)
    # …but other teacher weights are never served from the cache.
    monkeypatch.undo()
    _teacher(tmp_path / "b", 3)
    again = teacher_probs(teachers, images, tmp_path / "run")
    assert not np.allclose(again, got, atol=1e-4)


def test_bad_teacher_settings_are_refused_before_the_data(tmp_path: Path) -> None:
    from vnaw.training.pretrain import _check_data_specs
    from vnaw.training.pretrain_config import load_config

    with pytest.raises(ConfigError, match="teacher_weight"):
        load_config(None, ["loss.teacher_weight=2"])
    (tmp_path / "data").mkdir()
    cfg = load_config(None, [f"data.train=[ferplus:{tmp_path / 'data'}]", "loss.teacher=[nope]"])
    with pytest.raises(ModelFileError, match=r"nope\.safetensors: teacher encoder not found"):
        _check_data_specs(cfg)
