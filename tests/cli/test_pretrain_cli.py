"""``vnaw pretrain [CONFIG] [KEY=VALUE …]``: the command line of ``vnaw train``, beside the
``evaluate`` and ``export`` actions, and the deprecated ``--config``/``--set`` for one release.
Training is replaced by a recorder: what is checked is the configuration each form produces."""

from __future__ import annotations

from pathlib import Path

import pytest

from vnaw.cli import build_parser, main


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list:
    pytest.importorskip("lightning")  # the light install (no training stack) skips these
    import vnaw.training.pretrain as pretrain

    configs: list = []

    def run_pretrain(cfg, resume=None):
        configs.append(cfg)
        return {"epochs": cfg.optim.epochs}

    monkeypatch.setattr(pretrain, "run_pretrain", run_pretrain)
    return configs


def _check(cfg, out: Path) -> None:
    assert cfg.data.train == ["ferplus:F", "rafdb:R"]
    assert (cfg.optim.lr, cfg.trainer.seed, cfg.optim.epochs) == (0.05, 4, 3)
    assert cfg.trainer.out_dir == str(out)
    assert (cfg.model.input_size, cfg.optim.optimizer) == (32, "adam")  # from demo_pretrain.yaml


def test_config_and_overrides_as_train_takes_them(trained, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["pretrain", "demo_pretrain", "optim.lr=0.05", "--data", "ferplus:F", "rafdb:R"]
    # A KEY=VALUE after --data's specs is an override, not a spec.
    assert main([*argv, "trainer.seed=4", "--epochs", "3", "--out", str(out)]) == 0
    [cfg] = trained
    _check(cfg, out)
    assert capsys.readouterr().err == ""


def test_overrides_without_a_config_start_from_the_defaults(trained, tmp_path) -> None:
    assert main(["pretrain", "optim.lr=0.05", "--data", "ferplus:F", "--out", str(tmp_path)]) == 0
    [cfg] = trained
    assert (cfg.optim.lr, cfg.model.input_size, cfg.optim.optimizer) == (0.05, None, "sgd")


def test_deprecated_flags_still_work_with_one_line_on_stderr(trained, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["pretrain", "--config", "demo_pretrain", "--data", "ferplus:F", "rafdb:R"]
    assert main([*argv, "--set", "optim.lr=0.05", "trainer.seed=4", "--epochs", "3", "--out", str(out)]) == 0  # fmt: skip
    [cfg] = trained
    _check(cfg, out)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "deprecated" in err[0] and "vnaw pretrain CONFIG KEY=VALUE" in err[0]


def test_two_configs_are_refused(trained, capsys) -> None:
    argv = ["pretrain", "demo", "--config", "demo_pretrain", "--data", "ferplus:F"]
    assert main(argv) == 2
    assert "two configs" in capsys.readouterr().err and trained == []


@pytest.mark.parametrize(
    ("argv", "func", "dest", "value"),
    [
        (["evaluate", "--data", "ferplus:F", "--no-flip"], "_cmd_evaluate", "flip", False),
        (["export", "--checkpoint", "C", "--out", "O", "--onnx"], "_cmd_export", "onnx", True),
        (["demo_pretrain", "a.b=1", "--epochs", "2"], "_cmd_train", "overrides", ["a.b=1"]),
    ],
)
def test_actions_and_training_dispatch(argv, func, dest, value) -> None:
    args = build_parser().parse_args(["pretrain", *argv])
    assert args.func.__name__ == func and getattr(args, dest) == value
    assert args.command == "pretrain"


def test_help_of_the_command_and_of_an_action(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["pretrain", "-h"])
    text = capsys.readouterr().out
    assert done.value.code == 0 and "[config] [KEY=VALUE ...]" in text
    assert "pretrain evaluate -h" in text and "--set" not in text
    with pytest.raises(SystemExit):
        main(["pretrain", "export", "-h"])
    assert capsys.readouterr().out.startswith("usage: vnaw pretrain export")


def test_an_action_option_is_not_taken_by_training(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["pretrain", "export", "--checkpoint", "C"])  # --out is required
    assert done.value.code == 2 and "vnaw pretrain export" in capsys.readouterr().err
