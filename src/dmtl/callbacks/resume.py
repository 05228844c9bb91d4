"""Resuming in the same run folder: finding its newest checkpoint, keeping its logs and config.

A run folder is the logger's ``<save_dir>/<name>/<version>/`` (``default_root_dir`` without a
logger). ``fit`` started again in the same folder (a fixed logger version, e.g. the SLURM job id)
continues from the newest complete checkpoint there by itself (``--fault_tolerance.auto_resume``,
on by default). Lightning's own rules would lose work: its ``CSVLogger`` deletes ``metrics.csv``
when the folder is not empty, the CLI overwrites ``config.yaml``, and under SLURM the
``hpc_ckpt_*.ckpt`` of an earlier preemption wins over a newer ``last.ckpt``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

HPC_PREFIX = "hpc_ckpt_"
HPARAMS_NAME = "hparams.yaml"  # written by the CSV and TensorBoard loggers


def run_folder_is_fixed(trainer: pl.Trainer) -> bool:
    """Whether a new start writes into an existing folder: no logger, or a logger version given."""
    if not trainer.loggers:
        return True
    logger = trainer.loggers[0]
    return any(getattr(logger, key, None) is not None for key in ("_version", "_id"))


def checkpoint_dir(trainer: pl.Trainer) -> Path:
    """The folder where ``ModelCheckpoint`` writes, resolved as Lightning resolves it."""
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.dirpath is not None:
        return Path(callback.dirpath)
    if not trainer.loggers:
        return Path(trainer.default_root_dir) / "checkpoints"
    logger = trainer.loggers[0]
    save_dir = (logger.save_dir if len(trainer.loggers) == 1 else None) or trainer.default_root_dir
    version = logger.version
    version = version if isinstance(version, str) else f"version_{version}"
    return Path(save_dir) / str(logger.name) / version / "checkpoints"


def resume_candidates(trainer: pl.Trainer) -> list[Path]:
    """The checkpoints of this run folder (and SLURM's ``hpc_ckpt_*``), newest first.

    Dangling links (a kill between the two steps of ``ModelCheckpoint``'s replacement) are listed
    by the link's own time, so that the resume can say it passed over them
    (``dmtl.resume_check.choose``); of a link and its target (the same time) the target comes
    first. Empty without a fixed run folder (``run_folder_is_fixed``).
    """
    if not run_folder_is_fixed(trainer):
        return []
    folder = checkpoint_dir(trainer)
    found = list(folder.glob("*.ckpt")) if folder.is_dir() else []
    root = Path(trainer.default_root_dir)
    found += list(root.glob(f"{HPC_PREFIX}*.ckpt")) if root.is_dir() else []
    stamped = []
    for path in found:
        try:
            stamp = path.stat().st_mtime_ns  # follows a link
        except OSError:
            stamp = path.lstat().st_mtime_ns  # a dangling link
        stamped.append((stamp, not path.is_symlink(), path))
    return [path for *_, path in sorted(stamped, key=lambda item: item[:2], reverse=True)]


class AppendingCSVWriter(ExperimentWriter):
    """``CSVLogger``'s writer that appends to an existing ``metrics.csv`` instead of deleting it."""

    def _check_log_dir_exists(self) -> None:
        if not os.path.isfile(self.metrics_file_path):
            return
        with open(self.metrics_file_path, newline="") as handle:
            header = next(csv.reader(handle), [])
        # the old columns, so that new rows are appended (or the header widened) without loss
        self.metrics_keys = sorted(set(header))


def keep_run_files(trainer: pl.Trainer) -> list[Path]:
    """Make a start in an existing run folder keep its ``metrics.csv`` and ``config.yaml``.

    ``metrics.csv`` is appended to; the first ``config.yaml`` stays and a later start's resolved
    config goes to the next free ``config.<k>.yaml``. Call before the logger writes anything.

    Returns:
        The files of the run folder that this start adds before its first step (its config and,
        in a new folder, ``hparams.yaml``): a start that fails before training removes them
        (``remove_files_of_a_failed_start``).
    """
    for logger in trainer.loggers:
        if isinstance(logger, CSVLogger) and logger._experiment is None and trainer.is_global_zero:
            logger._experiment = AppendingCSVWriter(logger.log_dir)
    log_dir = trainer.log_dir
    if log_dir is None:
        return []
    added = [Path(log_dir) / HPARAMS_NAME] if not (Path(log_dir) / HPARAMS_NAME).exists() else []
    for callback in trainer.callbacks:
        if isinstance(callback, SaveConfigCallback) and not callback.already_saved:
            name = Path(callback.config_filename)
            target, k = Path(log_dir) / name, 0
            while target.exists():
                k += 1
                target = Path(log_dir) / f"{name.stem}.{k}{name.suffix}"
            callback.config_filename = target.name
            added.append(target)
    return added


def remove_files_of_a_failed_start(added: list[Path]) -> None:
    """Remove what ``keep_run_files`` says a start adds, for a start that never trained."""
    for path in added:
        path.unlink(missing_ok=True)


def adopt_last_checkpoint(trainer: pl.Trainer) -> None:
    """Make a resumed run's ``ModelCheckpoint`` replace the folder's ``last.ckpt`` (no last-v1).

    A checkpoint written before the callback's first ``last.ckpt`` (the first epoch's) restores an
    empty ``last_model_path``; the callback then takes an existing ``last.ckpt`` for another run's
    and writes ``last-v1.ckpt`` beside it, so ``last`` would stay the old one. Call on train start.
    """
    for callback in trainer.checkpoint_callbacks:
        if not isinstance(callback, ModelCheckpoint) or not callback.save_last:
            continue
        if callback.last_model_path or callback.dirpath is None:
            continue
        last = callback.format_checkpoint_name({}, ModelCheckpoint.CHECKPOINT_NAME_LAST)
        if os.path.lexists(last):
            callback.last_model_path = last
