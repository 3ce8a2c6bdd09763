"""The command line entry points."""

import subprocess
import sys

from vnaw.cli import main


def test_help_lists_subcommands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "info" in out and "usage: vnaw" in out


def test_info(capsys):
    assert main(["info"]) == 0
    assert "4=Happiness" in capsys.readouterr().out


def test_python_dash_m():
    res = subprocess.run(
        [sys.executable, "-m", "vnaw", "--help"], capture_output=True, text=True, check=True
    )
    assert "COMMAND" in res.stdout
