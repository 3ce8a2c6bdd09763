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
    from helpers.tiny_train import tiny_cfg, tiny_data
    from vnaw.training.train import train

    root, store = tiny_data(tmp_path / "data")
    run = tmp_path / "run"
    with Holder(run, "train"), pytest.raises(OutputBusyError, match=re.escape(str(run))):
        train(tiny_cfg(root, run), store=store)
    assert not (run / "config.yaml").exists()  # refused before any work
