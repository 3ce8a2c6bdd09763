"""``benchmarks/gpu_check.sh`` without a GPU: its syntax, its arguments, the commands it would run
(``--dry-run``), and (slow) every command on the CPU at toy sizes (``--smoke``). Its figures need
a GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "gpu_check.sh"


def _bash(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_syntax_and_unknown_argument() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    res = _bash("--bogus")
    assert res.returncode == 2 and res.stdout == ""
    assert (
        res.stderr
        == "gpu_check.sh: unknown argument '--bogus' (use --out DIR, --smoke, --dry-run)\n"
    )


def test_dry_run_lists_the_checks(tmp_path: Path) -> None:
    res = _bash("--dry-run", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    cmds = [ln[2:] for ln in res.stdout.splitlines() if ln.startswith("+ ")]
    e2e = [c for c in cmds if "e2e_throughput.py" in c]
    assert len(e2e) == 3 and all("--device cuda --precision bf16" in c for c in e2e)
    assert "--clips 2 --clip 100" in e2e[0] and "swin_tiny_patch4_window7_224" in e2e[0]
    assert sum("extract_throughput.py" in c for c in cmds) == 2
    train = [c for c in cmds if " train paper " in c]
    assert len(train) == 1 and "data.clips_per_epoch=82" in train[0]
    assert (tmp_path / "gpu_check.log").read_text() == res.stdout
    assert not (tmp_path / "synth").exists()  # nothing ran


@pytest.mark.slow
def test_smoke_runs_every_command_on_cpu(tmp_path: Path) -> None:
    res = _bash("--smoke", "--out", str(tmp_path), timeout=3600)
    assert res.returncode == 0, res.stderr[-3000:]
    log = (tmp_path / "gpu_check.log").read_text()
    assert "FAILED" not in log, log[-3000:]
    assert log.count("frames/s") >= 3 and "batch: 8 frames = 2 clips of 4" in log
    assert (tmp_path / "paper1" / "model.safetensors").is_file()
