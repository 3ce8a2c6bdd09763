"""What training prints: Lightning's progress bars on a terminal, one line per epoch otherwise
(logs, redirected output, CI), and none of Lightning's own chatter (device lines, tips)."""

from __future__ import annotations

import logging
import sys
import time
import warnings

import lightning as L

from vnaw.config import usable_cores


def quiet_lightning() -> None:
    """Hide Lightning's informational lines ("GPU available …", "TPU available …", tips) and the
    deprecation notices of its dependencies; warnings about the run itself stay."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*have no `val_dataloader`.*")
    warnings.filterwarnings("ignore", message=r".*exists and is not empty.*")
    # A frozen image encoder (or its batch norm with encoder.freeze_norm) is in eval mode on purpose.
    warnings.filterwarnings(
        "ignore", message=r".*module\(s\) in eval mode at the start of training"
    )


def progress_bar(wanted: bool) -> bool:
    """Lightning's bars only on a terminal: redirected, they are kilobytes of carriage returns."""
    return wanted and sys.stdout.isatty()


class EpochLines(L.Callback):
    """``epoch 3/20: train_loss 1.2345, val_f1 0.3456 (12.3 s)`` after each epoch."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys, self.t0 = keys, time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        m = trainer.callback_metrics
        values = ", ".join(f"{k} {float(m[k]):.4f}" for k in self.keys if k in m)
        took = time.perf_counter() - self.t0
        print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {values} ({took:.1f} s)")
        sys.stdout.flush()


class StepLines(L.Callback):
    """``step 120/3913 (epoch 1/60): loss 1.2345, 38.2 samples/s`` at most every ``every_s``
    seconds: a sign of life when an epoch takes minutes (a Swin-T on CPU, a large data set)."""

    def __init__(self, every_s: float = 30.0) -> None:
        self.every_s = every_s
        self.t0 = self.last = time.perf_counter()
        self.samples = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.t0 = self.last = time.perf_counter()
        self.samples = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.samples += len(batch[0]) if isinstance(batch, list | tuple) else 0
        now = time.perf_counter()
        if not trainer.is_global_zero or now - self.last < self.every_s:
            return
        self.last = now
        loss = trainer.callback_metrics.get("train/loss_step")
        total = trainer.estimated_stepping_batches
        rate = self.samples / max(now - self.t0, 1e-9)
        print(
            f"step {trainer.global_step}/{total} (epoch {trainer.current_epoch + 1}/"
            f"{trainer.max_epochs})"
            + (f": loss {float(loss):.4f}" if loss is not None else "")
            + f", {rate:.1f} images/s",
            flush=True,
        )


def console_callbacks(
    bar: bool, keys: tuple[str, ...], step_every_s: float = 0.0
) -> list[L.Callback]:
    """The epoch lines (and, with ``step_every_s``, step lines) when there is no progress bar."""
    if bar:
        return []
    return [EpochLines(keys)] + ([StepLines(step_every_s)] if step_every_s > 0 else [])


def cap_workers(asked: int, what: str = "data.num_workers") -> int:
    """``asked`` loader workers, at most one per usable core; says so once when it caps."""
    cores = usable_cores()
    if asked <= cores:
        return asked
    print(f"{what}={asked} capped to {cores}: the CPU cores this process can use", flush=True)
    return cores
