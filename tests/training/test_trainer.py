"""One reading of the shared ``trainer`` section for ``vnaw train`` and ``vnaw pretrain``."""

from __future__ import annotations

import pytest
import torch

from vnaw.config import PretrainConfig, RunConfig, TrainerConfig
from vnaw.training.checkpoints import SafeCheckpointIO
from vnaw.training.trainer import parse_devices, trainer_kwargs


@pytest.mark.parametrize(
    ("devices", "nodes", "strategy", "want_devices", "want_strategy"),
    [
        ("1", 1, "auto", 1, "auto"),
        ("auto", 1, "auto", "auto", "auto"),
        ("4", 1, "auto", 4, "ddp"),  # several devices: DDP
        ("0,2", 1, "auto", [0, 2], "ddp"),
        ("1", 2, "auto", 1, "ddp"),  # several nodes: DDP
        ("4", 1, "fsdp", 4, "fsdp"),  # a strategy given is kept
    ],
)
def test_devices_and_strategy(devices, nodes, strategy, want_devices, want_strategy) -> None:
    t = TrainerConfig(devices=devices, num_nodes=nodes, strategy=strategy)
    kw = trainer_kwargs(t, epochs=3, progress_bar=False)
    assert (kw["devices"], kw["strategy"], kw["num_nodes"]) == (want_devices, want_strategy, nodes)
    assert kw["max_epochs"] == 3 and kw["enable_progress_bar"] is False


def test_precision_determinism_and_checkpoint_io() -> None:
    kw = trainer_kwargs(TrainerConfig(accelerator="cpu"), epochs=1, progress_bar=True)
    assert kw["precision"] == "32-true"  # auto on a CPU
    assert kw["deterministic"] is None  # off: torch's setting is left as the caller made it
    assert [type(p) for p in kw["plugins"]] == [SafeCheckpointIO]
    auto = trainer_kwargs(TrainerConfig(), epochs=1, progress_bar=True)["precision"]
    assert auto == ("bf16-mixed" if torch.cuda.is_available() else "32-true")
    given = TrainerConfig(precision="16-mixed", deterministic=True)
    kw = trainer_kwargs(given, epochs=1, progress_bar=True)
    assert (kw["precision"], kw["deterministic"]) == ("16-mixed", "warn")


def test_both_configs_share_the_sections() -> None:
    run, pre = RunConfig(), PretrainConfig()
    assert isinstance(run.trainer, TrainerConfig) and isinstance(pre.trainer, TrainerConfig)
    assert type(run.optim).__mro__[1] is type(pre.optim).__mro__[1]  # the shared OptimConfig
    # Each keeps its own defaults where they differ.
    assert (parse_devices(run.trainer.devices), parse_devices(pre.trainer.devices)) == (1, "auto")
    assert (run.optim.lr, pre.optim.lr) == (1e-4, 0.1)


def test_pretrain_loss_default_is_the_loss_modules() -> None:
    from vnaw.losses.naw import NAW_DEFAULTS

    assert PretrainConfig().loss.epsilon_rate == NAW_DEFAULTS.epsilon_rate
