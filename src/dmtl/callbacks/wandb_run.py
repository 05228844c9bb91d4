"""Weights & Biases: the login check and the resolved config of a run.

Everything here is idle unless the run's logger is a ``WandbLogger``
(``--config experiments/logger/wandb.yaml``); the validation panel is logged to W&B by
``dmtl.callbacks.panels``.
"""

from __future__ import annotations

import netrc
import os
from urllib.parse import urlparse

import lightning.pytorch as pl
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

from dmtl.errors import ConfigError

LOCAL_MODES = ("offline", "dryrun", "disabled")
DEFAULT_HOST = "https://api.wandb.ai"


def wandb_loggers(trainer: pl.Trainer | None) -> list[WandbLogger]:
    """The W&B loggers of a trainer (none without a trainer)."""
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
    for logger in wandb_loggers(trainer):
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
        for logger in wandb_loggers(trainer):
            config = self.config.as_dict()
            config.pop("config", None)  # the paths of the config files, not settings
            logger.experiment.config.update({"cli": config}, allow_val_change=True)
