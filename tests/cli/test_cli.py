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


def test_a_wrong_run_fails_before_pytorch_loads():
    """`evaluate`, `submit` and `export` check the run first: a typo costs no PyTorch import."""
    code = (
        "import sys\n"
        "from vnaw.cli import main\n"
        "rcs = [main(a) for a in (['evaluate', '/nonexistent-run', '--data', '/x'],\n"
        "       ['submit', '/nonexistent-run', '--data', '/x', '--test-list', '/y', '--out', '/z'],\n"
        "       ['export', '--model', '/nonexistent-run', '--out', '/z.onnx'])]\n"
        "print(rcs, [m for m in ('torch', 'lightning', 'timm') if m in sys.modules])"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.strip() == "[2, 2, 2] []", res.stderr
    assert res.stderr.count("/nonexistent-run: not a run directory") == 3


def test_main_leaves_the_warning_format_as_it_found_it(tmp_path, capsys):
    import warnings

    before = warnings.formatwarning
    assert main(["evaluate", str(tmp_path / "no-run"), "--data", str(tmp_path)]) == 2
    assert "no-run" in capsys.readouterr().err
    assert warnings.formatwarning is before
