"""``dmtl test|validate|predict --ckpt_path RUN/checkpoints/X.ckpt`` logs into the checkpoint's run.

A checkpoint inside the ``checkpoints/`` folder of a run folder (one that holds the run's
``metrics.csv`` or ``config.yaml``) belongs to that run: the evaluation's metrics file, its rows of
``metrics.csv`` (appended to) and its resolved config (the next free ``config.<k>.yaml``) go beside
it, instead of into a new ``version_N``. Only for a CSV or TensorBoard logger whose version was not
given; an explicit ``--trainer.logger.version`` (or another logger) keeps its own folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmtl.checkpoint_check import checkpoint_file

CHECKPOINTS = "checkpoints"  # the folder of a run's checkpoints (Lightning's ModelCheckpoint)
RUN_FILES = ("metrics.csv", "config.yaml")  # a folder with either is a run's folder
FOLDER_LOGGERS = ("CSVLogger", "TensorBoardLogger")  # class names of the save_dir/name/version kind


def checkpoint_run(ckpt_path: str | Path | None) -> Path | None:
    """The run folder of the checkpoint ``ckpt_path``, or ``None`` when it is in none."""
    path = checkpoint_file(ckpt_path)
    if path is None or path.parent.name != CHECKPOINTS:
        return None
    run = path.parent.parent  # as given, so that the checkpoint callback's folder stays the same
    if len(run.parts) < 3:  # too short to name save_dir/name/version
        run = run.resolve()
    return run if any((run / name).is_file() for name in RUN_FILES) else None


def log_into_checkpoint_run(trainer_config: Any, ckpt_path: str | Path | None) -> Path | None:
    """Point the parsed ``trainer.logger`` at the checkpoint's run folder; that folder or ``None``.

    Args:
        trainer_config: the parsed ``trainer`` section (its ``logger`` is changed in place).
        ckpt_path: the command's ``--ckpt_path``.
    """
    logger = getattr(trainer_config, "logger", None)
    class_path = str(getattr(logger, "class_path", ""))
    init_args = getattr(logger, "init_args", None)
    if class_path.rpartition(".")[2] not in FOLDER_LOGGERS or init_args is None:
        return None
    if init_args.get("version") is not None:
        return None
    run = checkpoint_run(ckpt_path)
    if run is None:
        return None
    init_args["save_dir"] = str(run.parent.parent)
    init_args["name"] = run.parent.name
    init_args["version"] = run.name
    return run
