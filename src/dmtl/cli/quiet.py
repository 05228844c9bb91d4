"""Third-party messages a dmtl user cannot act on, silenced narrowly, by their words.

- Lightning's tips for its cloud products (``💡 Tip: ... litlogger``, ``... litmodels``), logged
  at INFO on every run;
- Lightning's own deprecation of ``isinstance(treespec, LeafSpec)`` (torch's pytree API, inside
  Lightning);
- "The dirpath has changed from ..." when a checkpoint of another run folder is evaluated (only
  the best path is reloaded, which evaluation does not use);
- W&B's "The anonymous setting has no effect" (Lightning passes ``anonymous=None``) and "git root
  ... does not exist" (W&B looks for git in the run's folder before it is created).

Every other warning and log line still shows.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

TIP = "💡 Tip:"  # the start of Lightning's product tips
TIP_LOGGERS = (  # where rank_zero_info logs, whichever of them Lightning set up last
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning_utilities.core.rank_zero",
)
WARNINGS = (  # regular expressions matched against the start of a warning's message
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    r"The dirpath has changed from ",
)


class DropTips(logging.Filter):
    """Drops the log records that start with Lightning's tip marker."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(TIP)


def quiet_third_party() -> None:
    """Filter Lightning's tips and the warnings of ``WARNINGS`` (idempotent)."""
    for name in TIP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropTips) for f in logger.filters):
            logger.addFilter(DropTips())
    for message in WARNINGS:
        warnings.filterwarnings("ignore", message=message)


def quiet_wandb_init(init: dict[str, Any]) -> None:
    """Remove what makes ``wandb.init`` warn from a ``WandbLogger``'s init arguments (in place).

    ``anonymous=None`` is dropped; without git settings, the git root is given as the nearest
    folder above the run's ``dir`` that holds ``.git`` (W&B would look in the run's folder, which
    does not exist yet, and warn), or git is left out where there is none.
    """
    if init.get("anonymous") is None:
        init.pop("anonymous", None)
    settings = init.get("settings")
    if settings is not None and not isinstance(settings, dict):
        return  # a wandb.Settings of the user's: theirs to set
    settings = dict(settings or {})
    if "git_root" not in settings and "disable_git" not in settings:
        root = git_root(Path(init.get("dir") or "."))
        settings.update({"git_root": str(root)} if root else {"disable_git": True})
        init["settings"] = settings


def git_root(folder: Path) -> Path | None:
    """The nearest folder at or above ``folder`` (absolute) that holds ``.git``."""
    for candidate in [folder.resolve(), *folder.resolve().parents]:
        if (candidate / ".git").exists():
            return candidate
    return None
