"""The validation panel of a run: image, prediction and target per task, once per validation."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from dmtl.callbacks.wandb_run import wandb_loggers
from dmtl.data.augment import denormalize
from dmtl.errors import ConfigError
from dmtl.report import run_dir
from dmtl.viz import make_panel, save_panel

PANEL_KEY = "val/panel"  # the one W&B key of the panel


class ValidationPanels(Callback):
    """Saves a panel of the first validation batch after each validation run (not the sanity
    check): ``<run dir>/panels/val_epochNNN.png``, also logged as ``val/panel`` to W&B. None
    under ``fast_dev_run``: a smoke run leaves nothing behind.

    The panel is built from the predictions that ``validation_step`` returned (an object with a
    ``predictions`` mapping, task -> (B, C, H, W)); the network is never run again. Only rank
    zero keeps the batch and writes; ``dmtl.viz.make_panel`` lays it out (titled columns, one row
    per sample: image, then target, initial prediction (DiffusionMTL) and final per task).

    Args:
        samples: validation samples drawn in the panel (0 turns the panels off).

    Raises:
        ConfigError: ``samples`` is negative.
    """

    def __init__(self, samples: int = 4) -> None:
        if samples < 0:
            raise ConfigError(f"panels.samples must be 0 (off) or more, got {samples}")
        self.samples = samples
        self._batch: dict[str, Any] | None = None

    def on_validation_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int, dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if batch_idx or dataloader_idx or self.samples == 0 or trainer.sanity_checking:
            return
        if not trainer.is_global_zero or getattr(trainer, "fast_dev_run", False):
            return
        predictions = getattr(outputs, "predictions", None)
        if predictions is None:
            raise TypeError(
                "ValidationPanels needs validation_step to return the network output "
                f"(with .predictions), got {type(outputs).__name__}"
            )
        n = self.samples
        self._batch = {
            "image": batch["image"][:n],
            "predictions": {k: v[:n] for k, v in predictions.items()},
            "initial": {k: v[:n] for k, v in (getattr(outputs, "initial", None) or {}).items()},
            "targets": {k: v[:n] for k, v in batch["targets"].items()},
        }

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._batch is None:
            return
        batch, self._batch = self._batch, None
        panel = make_panel(
            denormalize(batch["image"]),
            batch["predictions"],
            batch["targets"],
            pl_module.task_specs,
            initial=batch["initial"],
        )
        path = run_dir(trainer) / "panels" / f"val_epoch{trainer.current_epoch:03d}.png"
        save_panel(panel, path)
        for logger in wandb_loggers(trainer):
            logger.log_image(PANEL_KEY, [str(path)], step=trainer.global_step)
