"""The learning rate in the logged metrics of every run: ``lr-<optimiser>`` per param group."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import LearningRateMonitor


class LearningRateLog(LearningRateMonitor):
    """Lightning's ``LearningRateMonitor``, always on, idle in a run without a logger.

    Logs ``lr-Adam`` (``lr-Adam/pg1``, ``lr-Adam/pg2``, ... with several parameter groups) at
    the trainer's logging steps, through the run's loggers (``metrics.csv``, W&B). Lightning's
    callback refuses a trainer without a logger (``--trainer.logger=false``); this one logs
    nothing there instead.

    Args:
        logging_interval: ``step``, ``epoch``, or ``None`` (each scheduler's own interval).
        log_momentum: log the momentum (Adam's beta1) too.
        log_weight_decay: log the weight decay too.
    """

    def on_train_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.loggers:
            super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.loggers:
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.loggers:
            super().on_train_epoch_start(trainer, *args, **kwargs)
