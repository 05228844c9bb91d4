"""One folder per run, fixed before anything is written, also for runs started side by side.

``dmtl.report.run_dir`` says where a run's files go; ``place_runs`` makes that folder the run's
own before the trainer starts:

- a CSV or TensorBoard logger without a version takes the next free ``version_N`` by creating
  the folder (``mkdir`` fails when another run took it first), so two runs started at the same
  moment in one ``save_dir`` never share one;
- a W&B logger gets its run id up front (the one given, else ``WANDB_RUN_ID``, which a sweep
  agent sets, else a new one), and W&B writes its own files (``wandb/offline-run-*``, ...) into
  ``save_dir/<project>/<run id>``, the folder of the run's checkpoints, config and panels.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger

# Environment variables that name a process's rank before the trainer knows it (DDP children,
# srun tasks): only rank 0 reserves folders, the others follow the folder rank 0 broadcasts.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")
RESERVED: list[Path] = []  # the version folders this process created (``discard_unused``)


def place_runs(trainer: pl.Trainer) -> None:
    """Give each logger of ``trainer`` its run's own folder (see the module docstring).

    A ``fast_dev_run`` (a smoke test) has no folder and writes nothing: Lightning replaces its
    loggers and skips its checkpoints, except ``save_last``'s at the end of training, which is
    turned off here.
    """
    if trainer.fast_dev_run:
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint):
                callback.save_last = None
        return
    if not rank_zero():
        return
    for logger in trainer.loggers:
        if isinstance(logger, (CSVLogger, TensorBoardLogger)):
            reserve_version(logger)
        elif isinstance(logger, WandbLogger):
            place_wandb_run(logger)


def reserve_version(logger: CSVLogger | TensorBoardLogger) -> None:
    """Fix an unversioned logger's version to the first ``version_N`` folder it could create."""
    if logger._version is not None or logger.save_dir is None:
        return
    root = Path(logger.root_dir)
    root.mkdir(parents=True, exist_ok=True)
    number = logger._get_next_version()
    while True:
        try:
            (root / f"version_{number}").mkdir()
        except FileExistsError:
            number += 1
            continue
        logger._version = number
        RESERVED.append(root / f"version_{number}")
        return


def place_wandb_run(logger: WandbLogger) -> None:
    """Fix the W&B run id and put W&B's files into ``save_dir/<project>/<run id>``."""
    if logger._experiment is not None or logger.save_dir is None:
        return
    run_id = logger._id or os.environ.get("WANDB_RUN_ID") or _new_run_id()
    logger._id = logger._wandb_init["id"] = run_id
    logger._wandb_init["dir"] = str(Path(logger.save_dir) / str(logger.name) / run_id)


def discard_unused() -> None:
    """Remove the version folders this process reserved and left empty (a start that failed)."""
    while RESERVED:
        try:
            RESERVED.pop().rmdir()
        except OSError:  # written into (a run), or already gone
            pass


def _new_run_id() -> str:
    """Eight random lower-case letters and digits, the form of W&B's own run ids."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def rank_zero() -> bool:
    return all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES)
