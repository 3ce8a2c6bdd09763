"""One writer per output (vnaw.files.output_lock), and the commands that take it refuse at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vnaw.files import OutputBusyError, output_lock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="advisory locks are POSIX")


class Holder:
    """Another process holding ``output_lock(root, name)`` until it is closed."""

    def __init__(self, root: Path, name: str) -> None:
        code = (
            "import time; from vnaw.files import output_lock\n"
            f"with output_lock({str(root)!r}, {name!r}):\n"
            "    print('locked', flush=True); time.sleep(120)"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout.readline().strip() == "locked"

    def __enter__(self) -> subprocess.Popen:
        return self.proc

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()


def test_a_held_lock_refuses_naming_folder_and_pid(tmp_path):
    with Holder(tmp_path, "faces") as holder:
        with pytest.raises(OutputBusyError) as info:
            with output_lock(tmp_path, "faces"):
                pass
        assert str(info.value).startswith(
            f"another vnaw is writing to {tmp_path} (pid {holder.pid})"
        )
        with output_lock(tmp_path, "extract-rank1"):  # another writer's name: no conflict
            pass
    with output_lock(tmp_path, "faces") as path:  # released when its holder died
        assert path.read_text().strip() == str(os.getpid())


def test_train_refuses_a_run_folder_being_written(tmp_path):
    pytest.importorskip("torch")  # the training stack
    from helpers.tiny_train import tiny_cfg, tiny_data
    from vnaw.training.train import train

    root, store = tiny_data(tmp_path / "data")
    run = tmp_path / "run"
    with Holder(run, "train"), pytest.raises(OutputBusyError, match=re.escape(str(run))):
        train(tiny_cfg(root, run), store=store)
    assert not (run / "config.yaml").exists()  # refused before any work


_RUN_WITH_WORKERS = """
import os, sys, time
import torch
from torch.utils.data import DataLoader, Dataset
from vnaw.files import output_lock

class Slow(Dataset):
    def __len__(self):
        return 1000
    def __getitem__(self, i):
        if i < 2:
            print("worker", os.getpid(), flush=True)
        time.sleep(0.5)
        return i

with output_lock(sys.argv[1], "train"):
    loader = DataLoader(Slow(), num_workers=2, multiprocessing_context="fork")
    for _ in loader:
        pass
"""


def test_a_rerun_right_after_kill_9_of_a_run_with_forked_workers_is_accepted(tmp_path):
    """The forked data-loader workers outlive a killed run for a while; the lock is the run's
    own (a POSIX record lock is not inherited), so it goes with the run, not with them."""
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN_WITH_WORKERS, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    workers = {int(proc.stdout.readline().split()[1]) for _ in range(2)}
    assert proc.pid not in workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        alive = [w for w in workers if _alive(w)]
        assert alive, "the workers should still be running (they notice their parent's death late)"
        with output_lock(tmp_path, "train") as path:  # accepted at once
            assert path.read_text().strip() == str(os.getpid())
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_refused_command_leaves_no_folder_holding_only_its_lock(tmp_path):
    out = tmp_path / "new" / "out"
    with pytest.raises(ValueError, match="bad input"), output_lock(out, "predict"):
        raise ValueError("bad input")
    assert not out.exists()
    kept = tmp_path / "kept"  # a folder that was there before is left as it was
    kept.mkdir()
    with pytest.raises(ValueError), output_lock(kept, "predict"):
        raise ValueError("bad input")
    assert kept.is_dir()


def test_one_process_asking_twice_is_refused(tmp_path):
    with output_lock(tmp_path, "faces"):
        with pytest.raises(OutputBusyError, match=f"pid {os.getpid()}"):
            with output_lock(tmp_path, "faces"):
                pass
    with output_lock(tmp_path, "faces"):  # released
        pass


@pytest.mark.slow
def test_vnaw_train_killed_with_its_workers_running_is_rerun_at_once(tmp_path):
    """End to end: `vnaw train data.num_workers=2` killed with -9 while its forked data-loader
    workers run; a rerun into the same folder, started at once, is not refused."""
    import signal
    import time

    from vnaw.cli import main
    from vnaw.data.synth import SynthConfig, generate

    data, store, run = tmp_path / "data", tmp_path / "store", tmp_path / "run"
    generate(data, SynthConfig(seed=1, videos=4, frames=40, size=32))
    extract = ["extract", "--data", str(data), "--out", str(store), "--encoder", "resnet18"]
    extract += ["--random-init", "--input-size", "32", "--workers", "0", "--quiet"]
    assert main(extract) == 0
    argv = [sys.executable, "-m", "vnaw", "train", f"data.root={data}", f"data.features={store}"]
    argv += ["data.num_workers=2", "trainer.progress_bar=false", "trainer.threads=1"]
    proc = subprocess.Popen(
        [*argv, f"out_dir={run}", "optim.epochs=500"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(_children(proc.pid)) < 2:  # the forked workers are running
        assert proc.poll() is None and time.monotonic() < deadline, "no workers started"
        time.sleep(0.1)
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        assert any(_alive(w) for w in workers)  # still there: they would have held a flock
        with output_lock(run, "train"):  # at once (a new command needs seconds to get here)
            pass
        rerun = subprocess.run(
            [*argv, f"out_dir={run}", "optim.epochs=1", "--overwrite"],
            capture_output=True,
            text=True,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert "another vnaw" not in rerun.stderr
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids
