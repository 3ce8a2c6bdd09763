"""End-to-end training puts the image encoder in the mode its configuration asks for, at every
training step: training mode when fine-tuned (batch norm updating its statistics), eval mode when
frozen, and batch norm alone in eval mode with ``encoder.freeze_norm``."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from helpers.tiny_encoder import tiny_encoder
from vnaw.config import load_config
from vnaw.training.train import train


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from vnaw.data.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, SynthConfig(seed=5, videos=4, frames=24, size=32))
    return root, tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny")


class ModeProbe(L.Callback):
    """Records, at each training step, (encoder.training, modes of its batch-norm layers)."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, set[bool]]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        enc = pl_module.model.encoder
        bn = {m.training for m in enc.modules() if isinstance(m, torch.nn.BatchNorm2d)}
        self.seen.append((enc.training, bn))


def _run(data, tmp_path: Path, *extra: str) -> tuple[ModeProbe, Path]:
    root, enc = data
    cfg = load_config(
        overrides=[
            "mode=end-to-end", f"data.root={root}", f"out_dir={tmp_path / 'run'}",
            f"encoder.name={enc}", "data.clip_length=8", "data.batch_size=4",
            "data.clips_per_epoch=8", "model.d_model=16", "model.num_layers=1",
            "model.num_heads=2", "model.dim_feedforward=16", "optim.epochs=2",
            "trainer.progress_bar=false", "trainer.accelerator=cpu", *extra,
        ]
    )  # fmt: skip
    probe = ModeProbe()
    return probe, train(cfg, callbacks=[probe])


def _bn_stats(run: Path) -> torch.Tensor:
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return torch.cat([v.flatten() for k, v in state.items() if k.endswith("running_mean")])


def test_finetuned_encoder_trains_in_training_mode(data, tmp_path) -> None:
    probe, run = _run(data, tmp_path, "encoder.finetune=true")
    # Both epochs (the second one after a validation pass), every step.
    assert len(probe.seen) == 4
    assert probe.seen == [(True, {True})] * 4
    # Batch norm updated its running statistics: they moved from their initial zeros.
    assert _bn_stats(run).abs().max() > 1e-4


def test_freeze_norm_keeps_batch_norm_statistics(data, tmp_path) -> None:
    probe, run = _run(data, tmp_path, "encoder.finetune=true", "encoder.freeze_norm=true")
    assert probe.seen == [(True, {False})] * 4
    assert _bn_stats(run).abs().max() == 0  # never updated
    # The weights themselves are trained.
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    from vnaw.models.encoder import ImageClassifier

    init = ImageClassifier.from_file(data[1]).trunk.state_dict()
    assert not torch.equal(state["model.encoder.conv1.weight"], init["conv1.weight"])


def test_frozen_encoder_stays_in_eval_mode(data, tmp_path) -> None:
    probe, _ = _run(data, tmp_path, "encoder.finetune=false")
    assert probe.seen == [(False, {False})] * 4
