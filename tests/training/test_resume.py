"""Resume semantics of `vnaw train`: last.ckpt after every epoch, a finished run is left alone,
checkpoints are read weights-only; and (slow) SIGKILL mid-epoch + --resume = uninterrupted run,
for `train` and `pretrain`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch

from helpers.tiny_train import tiny_cfg, tiny_data
from vnaw.errors import ModelFileError
from vnaw.training.train import finished_run, train

HELPERS = Path(__file__).parents[1]


def test_last_checkpoint_every_epoch_and_a_finished_run_is_left_alone(tmp_path):
    root, store = tiny_data(tmp_path / "data")
    # lr = 0: validation F1 never improves after epoch 0, so best.ckpt stays at epoch 0 …
    cfg = tiny_cfg(root, tmp_path / "run", **{"optim.lr": 0.0})
    run = train(cfg, store=store)
    ckpts = run / "checkpoints"
    assert torch.load(ckpts / "best.ckpt", weights_only=True)["epoch"] == 0
    # … and last.ckpt is the last epoch all the same.
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["epoch"] == 2
    assert finished_run(cfg) == f"{run}: already finished (3 epochs); nothing to do"
    stamps = {p.name: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert train(cfg, store=store, resume=True) == run
    assert {p.name: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == stamps
    # A run that stopped early is not finished.
    (run / "model.safetensors").unlink()
    assert finished_run(cfg) is None


def test_a_malicious_last_checkpoint_is_refused(tmp_path):
    root, store = tiny_data(tmp_path / "data")
    cfg = tiny_cfg(root, tmp_path / "run")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, "epoch": 0, "x": Evil()}, last)
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # weights_only must not depend on it
    try:
        with pytest.raises(ModelFileError, match=r"last\.ckpt"):
            train(cfg, store=store, resume=True)
    finally:
        del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
    assert not marker.exists()


# -- SIGKILL mid-epoch, then --resume (slow: three training processes per command) -------------

TRAIN_SCRIPT = """
import sys, time
from pathlib import Path
import lightning as L
sys.path.insert(0, sys.argv[4])
from helpers.tiny_train import tiny_cfg, tiny_data
from vnaw.training.train import train

class Pause(L.Callback):  # stands still in the middle of epoch 1, to be killed there
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.current_epoch == 1 and batch_idx == 4:
            Path(sys.argv[2], "PAUSED").touch()
            time.sleep(600)

root, store = tiny_data(Path(sys.argv[1]))
mode = sys.argv[3]
train(tiny_cfg(root, Path(sys.argv[2])), store=store, resume=mode == "resume",
      callbacks=[Pause()] if mode == "pause" else [])
"""

PRETRAIN_SCRIPT = """
import sys, time
from pathlib import Path
import lightning as L
sys.path.insert(0, sys.argv[4])
from helpers.ferplus_fake import make_ferplus
from vnaw.training.pretrain import run_pretrain
from vnaw.training.pretrain_config import load_config

class Pause(L.Callback):
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.current_epoch == 1 and batch_idx == 1:
            Path(sys.argv[2], "PAUSED").touch()
            time.sleep(600)

data, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
if not data.exists():
    make_ferplus(data, repeats=3)
cfg = load_config(None, [
    f"data.train=['ferplus:{data}']", "optim.epochs=3", f"trainer.out_dir={out}",
    "model.model_kwargs.channels=[8,16,32,64]", "model.model_kwargs.stem_width=8",
    "model.input_size=24", "optim.batch_size=8", "trainer.progress=false", "trainer.threads=1",
    "data.balanced=true",
])
run_pretrain(cfg, resume=out / "checkpoints" / "last.ckpt" if mode == "resume" else None,
             callbacks=[Pause()] if mode == "pause" else [])
"""


def _script(script: str, data: Path, out: Path, mode: str) -> subprocess.Popen:
    argv = [sys.executable, "-c", script, str(data), str(out), mode, str(HELPERS)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]


def _kill_mid_epoch_then_resume(script: str, tmp_path: Path) -> tuple[dict, dict]:
    data = tmp_path / "data"
    _finish(_script(script, data, tmp_path / "whole", "whole"))
    killed = tmp_path / "killed"
    proc = _script(script, data, killed, "pause")
    deadline = time.time() + 300
    while not (killed / "PAUSED").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert (killed / "PAUSED").exists(), proc.stderr.read()[-3000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert torch.load(killed / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    _finish(_script(script, data, killed, "resume"))
    return tuple(
        torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        for run in (tmp_path / "whole", killed)
    )


def _assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_train_killed_mid_epoch_resumes_bit_identical(tmp_path):
    _assert_identical(*_kill_mid_epoch_then_resume(TRAIN_SCRIPT, tmp_path))


@pytest.mark.slow
def test_pretrain_killed_mid_epoch_resumes_bit_identical(tmp_path):
    _assert_identical(*_kill_mid_epoch_then_resume(PRETRAIN_SCRIPT, tmp_path))
