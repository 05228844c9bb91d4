"""Weights & Biases: the login check, the resolved config and the prediction panels of a run.

Everything here is idle unless the run's logger is a ``WandbLogger``
(``--config experiments/logger/wandb.yaml``).
"""

from __future__ import annotations

import netrc
import os
from typing import Any
from urllib.parse import urlparse

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

from dmtl.data.transforms import denormalize
from dmtl.errors import ConfigError
from dmtl.viz import colourise

LOCAL_MODES = ("offline", "dryrun", "disabled")
DEFAULT_HOST = "https://api.wandb.ai"


def _wandb_loggers(trainer: pl.Trainer | None) -> list[WandbLogger]:
    return [lg for lg in (trainer.loggers if trainer else []) if isinstance(lg, WandbLogger)]


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", DEFAULT_HOST)).hostname or ""
    path = os.environ.get("NETRC", os.path.join(os.path.expanduser("~"), ".netrc"))
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def check_wandb_login(trainer: pl.Trainer | None) -> None:
    """Fail before training when W&B would go online without an API key.

    Raises:
        ConfigError: a ``WandbLogger`` in online mode, and neither ``WANDB_API_KEY`` nor a
            ``wandb login`` entry in ``~/.netrc``.
    """
    for logger in _wandb_loggers(trainer):
        mode = logger._wandb_init.get("mode") or os.environ.get("WANDB_MODE", "online")
        if logger._offline or mode in LOCAL_MODES or _has_api_key():
            continue
        raise ConfigError(
            "the W&B logger is online but no W&B API key was found (WANDB_API_KEY or `wandb "
            "login`); log in, or run with WANDB_MODE=offline (sync later with `wandb sync`) or "
            "WANDB_MODE=disabled"
        )


class WandbSaveConfig(SaveConfigCallback):
    """Writes ``config.yaml`` as usual and also puts the resolved config into the W&B run."""

    def save_config(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for logger in _wandb_loggers(trainer):
            config = self.config.as_dict()
            config.pop("config", None)  # the paths of the config files, not settings
            logger.experiment.config.update({"cli": config}, allow_val_change=True)


class WandbPanels(Callback):
    """Logs prediction panels of the first validation batch to W&B, once per validation run.

    ``val/predictions``: per sample, the image with each segmentation task's prediction and
    target as W&B mask overlays (toggled in the W&B UI); ``val/<task>``: per sample and dense
    regression task, prediction beside target, colourised as in ``dmtl.viz``.

    Args:
        samples: validation samples drawn (0 turns the panels off).
    """

    def __init__(self, samples: int = 4) -> None:
        self.samples = samples

    def on_validation_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int, dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        loggers = _wandb_loggers(trainer)
        if batch_idx or not loggers or self.samples <= 0 or trainer.sanity_checking:
            return
        if not trainer.is_global_zero:
            return
        images = batch["image"][: self.samples]
        with torch.no_grad():
            predictions = pl_module(images).predictions
        self._log(loggers, pl_module.task_specs, images, predictions, batch["targets"], trainer)

    def _log(self, loggers, specs, images, predictions, targets, trainer) -> None:
        import wandb  # only with a WandbLogger, which needs wandb anyway

        rgb = (denormalize(images).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).astype(
            np.uint8
        )
        overlays, per_task = [], {}
        for i, image in enumerate(rgb):
            masks = {}
            for spec in specs:
                pred, target = predictions[spec.name][i], targets[spec.name][i]
                if spec.kind == "segmentation":
                    labels = {c: f"class {c}" for c in range(spec.channels)}
                    target_np = target.cpu().numpy().astype(np.int64)
                    labels[spec.ignore_index] = "ignore"
                    masks[f"{spec.name} prediction"] = {
                        "mask_data": pred.argmax(0).cpu().numpy().astype(np.int64),
                        "class_labels": labels,
                    }
                    masks[f"{spec.name} target"] = {"mask_data": target_np, "class_labels": labels}
                else:
                    depth_range = self._depth_range(targets, spec)
                    pair = np.concatenate(
                        [colourise(spec, pred, depth_range), colourise(spec, target, depth_range)],
                        axis=1,
                    )
                    caption = f"{spec.name}: prediction | target"
                    per_task.setdefault(spec.name, []).append(wandb.Image(pair, caption=caption))
            overlays.append(wandb.Image(image, masks=masks or None))
        for logger in loggers:
            data = {"val/predictions": overlays, **{f"val/{k}": v for k, v in per_task.items()}}
            logger.log_metrics(data, step=trainer.global_step)

    @staticmethod
    def _depth_range(targets, spec) -> tuple[float, float]:
        valid = targets[spec.name][targets[spec.name] > 0]
        return (float(valid.min()), float(valid.max())) if valid.numel() else (0.0, 1.0)
