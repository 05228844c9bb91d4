"""Weights & Biases: the login check; the resolved config of a run, in its folder and in W&B.

The W&B parts are idle unless the run's logger is a ``WandbLogger``
(``--config experiments/logger/wandb.yaml``); the validation panel is logged to W&B by
``dmtl.callbacks.panels``, and ``dmtl.run_folders`` puts the W&B run's files into its folder.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

import lightning.pytorch as pl
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

from dmtl.errors import ConfigError
from dmtl.report import run_dir

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
    """Writes ``config.yaml`` into the run's folder and puts the resolved config into W&B.

    The folder is ``dmtl.report.run_dir``'s, where the panels, result files and checkpoints go,
    for every logger: Lightning's own callback writes into ``trainer.log_dir``, which for W&B is
    the ``save_dir`` that all runs share.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.already_saved:
            return
        if self.save_to_log_dir:
            self._write(trainer)
        if trainer.is_global_zero:
            self.save_config(trainer, pl_module, stage)
        self.already_saved = trainer.strategy.broadcast(True)

    def _write(self, trainer: pl.Trainer) -> None:
        folder = Path(trainer.strategy.broadcast(str(run_dir(trainer))))
        path = folder / self.config_filename
        if not self.overwrite:
            exists = trainer.strategy.broadcast(trainer.is_global_zero and path.is_file())
            if exists:
                raise RuntimeError(
                    f"{type(self).__name__} expected {path} to not exist: it is a previous run's "
                    "config"
                )
        if trainer.is_global_zero:
            folder.mkdir(parents=True, exist_ok=True)
            self.parser.save(
                self.config, path, skip_none=False, overwrite=self.overwrite,
                multifile=self.multifile,
            )  # fmt: skip

    def save_config(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for logger in wandb_loggers(trainer):
            config = self.config.as_dict()
            config.pop("config", None)  # the paths of the config files, not settings
            logger.experiment.config.update({"cli": config}, allow_val_change=True)
