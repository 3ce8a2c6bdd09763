"""A command that needs an optional extra which is not installed names it in one line (issue 32)."""

from __future__ import annotations

import importlib.util

import pytest

from vnaw import cli


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("torch", "train"),
        ("lightning.pytorch", "train"),
        ("pyarrow", "parquet"),
        ("sklearn", "dev"),
    ],
)
def test_a_missing_extra_is_named(module, extra, monkeypatch, capsys):
    def needs(_args):
        raise ModuleNotFoundError(f"No module named '{module}'", name=module)

    monkeypatch.setattr(cli.argparse.ArgumentParser, "parse_args", lambda self, a: _Args(needs))
    assert cli.main(["export"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f'vnaw export: error: needs {module}, which is not installed: pip install "vnaw[{extra}]"'
    ]


def test_another_missing_module_is_unexpected(monkeypatch, capsys):
    def needs(_args):
        raise ModuleNotFoundError("No module named 'nonesuch'", name="nonesuch")

    monkeypatch.setattr(cli.argparse.ArgumentParser, "parse_args", lambda self, a: _Args(needs))
    assert cli.main(["export"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unexpected" in err[0] and "vnaw[" not in err[0], err


class _Args:
    command = "export"

    def __init__(self, func) -> None:
        self.func = func


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None, reason="the light install only (no torch)"
)
def test_training_in_the_light_install_says_which_extra(tmp_path, capsys):
    assert cli.main(["train", "demo", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith('pip install "vnaw[train]"'), err
