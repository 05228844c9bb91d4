"""Plain progress lines for a batch job's log, where a progress bar shows nothing."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from dmtl.errors import ConfigError


class BatchProgress(Callback):
    """Progress as plain lines on stdout when stdout is not a terminal (SLURM ``.out``, nohup, CI).

    There, a progress bar prints nothing until the run ends; instead rank zero prints every
    ``every_n_steps`` optimiser steps

    ``epoch E step S/TOTAL loss LOSS lr LR RATE it/s``

    (the mean training loss of the batches since the last line, the first parameter group's
    learning rate, batches per second since the last line), and after each validation (not the
    sanity check) ``epoch E step S/TOTAL validation SECONDS s: val/depth/rmse VALUE ...`` with the
    values logged under ``val...``; the progress bar is turned off. On a terminal it does nothing.
    The losses are summed on their device and read once a line, never once a step.

    Args:
        every_n_steps: optimiser steps between two lines; 0 turns the lines off (and leaves the
            progress bar as it is).

    Raises:
        ConfigError: ``every_n_steps`` is negative.
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        if every_n_steps < 0:
            raise ConfigError(
                f"progress.every_n_steps must be 0 (off) or more, got {every_n_steps}"
            )
        self.every_n_steps = every_n_steps
        self.active = False
        self._total: int | None = None  # the fit's optimiser steps, when known
        self._reset(0)
        self._validation_start = 0.0

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._total = None
        self.active = self.every_n_steps > 0 and not sys.stdout.isatty()
        bar = trainer.progress_bar_callback
        if self.active and bar is not None:
            bar.disable()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total = trainer.estimated_stepping_batches  # fit only: it sets up the training data
        self._total = int(total) if math.isfinite(total) else None
        self._reset(trainer.global_step)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:  # fmt: skip
        if not (self.active and trainer.is_global_zero):
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor):
            self._loss_sum = loss.detach().float() + self._loss_sum
            self._losses += 1
        self._batches += 1
        if trainer.global_step // self.every_n_steps <= self._last_step // self.every_n_steps:
            return
        elapsed = max(time.perf_counter() - self._since, 1e-9)
        loss_text = f"{float(self._loss_sum) / self._losses:.4f}" if self._losses else "n/a"
        print(
            f"{self._position(trainer)} loss {loss_text} lr {_learning_rate(trainer)} "
            f"{self._batches / elapsed:.2f} it/s",
            flush=True,
        )
        self._reset(trainer.global_step)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._validation_start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not (self.active and trainer.is_global_zero) or trainer.sanity_checking:
            return
        values = {
            key: float(value)
            for key, value in trainer.callback_metrics.items()
            if key.startswith("val") and torch.as_tensor(value).numel() == 1
        }
        cells = " ".join(f"{key} {value:.4f}" for key, value in sorted(values.items()))
        seconds = time.perf_counter() - self._validation_start
        print(f"{self._position(trainer)} validation {seconds:.1f} s: {cells}", flush=True)
        self._since += seconds  # the validation's time is not training time

    def _position(self, trainer: pl.Trainer) -> str:
        of = f"/{self._total}" if self._total is not None else ""
        return f"epoch {trainer.current_epoch} step {trainer.global_step}{of}"

    def _reset(self, step: int) -> None:
        self._last_step = step
        self._since = time.perf_counter()
        self._batches = 0
        self._losses = 0
        self._loss_sum: torch.Tensor | float = 0.0


def _learning_rate(trainer: pl.Trainer) -> str:
    optimizers = trainer.optimizers
    if not optimizers or not optimizers[0].param_groups:
        return "n/a"
    return f"{float(optimizers[0].param_groups[0]['lr']):.3g}"
