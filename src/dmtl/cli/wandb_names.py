"""The W&B project and entity names of a run, checked before anything is written.

W&B refuses a project name with one of ``/ \\ # ? % :`` only when the run starts (after the data
was set up) and an empty one becomes Lightning's ``lightning_logs``; an entity with such
characters or a space is accepted offline and fails only at ``wandb sync``. Here each ends the
run with one line naming the option and the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dmtl.errors import ConfigError

FORBIDDEN = "/\\#?%:"  # W&B's own list for project names
MAX_PROJECT = 128  # W&B's longest project name


def check_wandb_names(loggers: Any) -> None:
    """Refuse an empty, too long or ill-formed W&B project, or an ill-formed entity.

    Args:
        loggers: the parsed ``trainer.logger`` option: a ``class_path``/``init_args`` mapping or
            a list of them (or ``True``, ``False``, ``None``: nothing to check). The values as
            given, before ``WandbLogger`` turns an empty project into ``lightning_logs``.

    Raises:
        ConfigError: naming ``--trainer.logger.init_args.project`` or ``.entity`` and the value.
    """
    if hasattr(loggers, "as_dict"):
        loggers = loggers.as_dict()
    for logger in loggers if isinstance(loggers, list) else [loggers]:
        if hasattr(logger, "as_dict"):
            logger = logger.as_dict()
        if not isinstance(logger, Mapping) or "WandbLogger" not in str(logger.get("class_path")):
            continue
        init = logger.get("init_args") or {}
        project, entity = init.get("project"), init.get("entity")
        if project is not None:
            _check("project", str(project))
            if len(str(project)) > MAX_PROJECT:
                raise ConfigError(
                    f"--trainer.logger.init_args.project={project!r} is longer than W&B's "
                    f"{MAX_PROJECT} characters"
                )
        if entity is not None:
            _check("entity", str(entity))


def _check(key: str, value: str) -> None:
    option = f"--trainer.logger.init_args.{key}"
    if not value.strip():
        raise ConfigError(f"{option} is empty; name the W&B {key} (or leave the option out)")
    bad = sorted({c for c in value if c in FORBIDDEN or c.isspace()})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise ConfigError(
            f"{option}={value!r} holds characters that W&B does not allow in a {key} name "
            f"({shown}); use letters, digits, '-', '_' and '.'"
        )
