"""What training prints: Lightning's progress bars on a terminal, one line per epoch otherwise
(logs, redirected output, CI), and none of Lightning's own chatter (device lines, tips)."""

from __future__ import annotations

import logging
import sys
import time
import warnings

import lightning as L


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


def console_callbacks(bar: bool, keys: tuple[str, ...]) -> list[L.Callback]:
    """The epoch lines when there is no progress bar."""
    return [] if bar else [EpochLines(keys)]
