"""Lightning checkpoints of ``vnaw train`` and ``vnaw pretrain``: safe to read, whole when written.

:class:`SafeCheckpointIO` replaces Lightning's default checkpoint I/O:

* **reading** always goes through :func:`vnaw.files.load_torch` (``torch.load(weights_only=True)``,
  explicitly, whatever the torch version or ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` say), so a crafted
  ``last.ckpt`` handed to ``--resume`` cannot run code; a broken one is one error naming the file;
* **writing** goes through :func:`vnaw.files.atomic_write` (temporary name, fsync, rename), so a
  kill or a full disk never leaves a truncated ``best.ckpt`` / ``last.ckpt``: the previous one
  stays until the new one is complete.

:func:`last_checkpoint_callback` writes ``last.ckpt`` after every epoch (Lightning's
``save_last`` writes it only when the monitored checkpoint improves, so a resume would redo every
epoch since the best one), and :func:`finished_epochs` tells a finished run from a killed one.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from vnaw.errors import ModelFileError
from vnaw.files import atomic_write, load_torch, output_lock


class SafeCheckpointIO(TorchCheckpointIO):
    """Checkpoint I/O with weights-only reads and atomic writes (see the module docstring)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options=None
    ) -> None:
        # Serialised in memory first (as Lightning does): torch's zip writer would turn a full
        # disk into a RuntimeError naming no file; a plain write raises an OSError naming it.
        buf = io.BytesIO()
        torch.save(checkpoint, buf)
        atomic_write(path, lambda f: f.write(buf.getbuffer()), buf.getbuffer().nbytes)

    def load_checkpoint(
        self, path: str | os.PathLike[str], map_location=None, weights_only=None
    ) -> dict[str, Any]:
        # `weights_only` is ignored on purpose: a checkpoint is never unpickled in full.
        ckpt = load_torch(path)
        if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
            raise ModelFileError(f"{path}: not a Lightning checkpoint (no state_dict)")
        return ckpt


def last_checkpoint_callback(folder: Path) -> ModelCheckpoint:
    """``folder/last.ckpt``, rewritten at the end of every epoch (for ``--resume``)."""
    return ModelCheckpoint(
        dirpath=folder,
        filename="last",
        monitor=None,
        save_top_k=1,
        every_n_epochs=1,
        enable_version_counter=False,
    )


def run_lock(run_dir: str | os.PathLike[str], what: str) -> contextlib.AbstractContextManager:
    """:func:`~vnaw.files.output_lock` on a run folder, taken by the first process of a run only:
    the other DDP processes (rank ≠ 0, by Lightning's, torchrun's or SLURM's variables) belong to
    the same run and must not be refused."""
    if not first_process():
        return contextlib.nullcontext()
    return output_lock(run_dir, what)


def first_process() -> bool:
    """False in the other processes of a DDP run (rank ≠ 0 by Lightning's, torchrun's or SLURM's
    variables): they re-run the command line of the first one and must not refuse it."""
    ranks = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
    return not any(os.environ.get(k, "0") not in ("", "0") for k in ranks)


def finished_note(run_dir: Path, epochs: int) -> str:
    """What ``--resume`` prints on a finished run."""
    return f"{run_dir}: already finished ({epochs} epoch{'s' * (epochs != 1)}); nothing to do"


def finished_epochs(last: Path, epochs: int) -> int | None:
    """The number of epochs if ``last`` (a ``last.ckpt``) is the end of an ``epochs``-epoch run;
    ``None`` if there is none or the run stopped earlier."""
    if not last.is_file():
        return None
    epoch = load_torch(last).get("epoch")
    return epochs if isinstance(epoch, int) and epoch + 1 >= epochs else None
