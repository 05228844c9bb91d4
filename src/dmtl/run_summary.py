"""The last lines of ``dmtl fit|validate|test|predict``: where the command's results are.

One ``dmtl: <what>: <path>`` line each, on stdout, after the tables: the run folder, the
checkpoints (fit: the best and the last; the others: the one evaluated), the metrics files of the
command, the metrics log, the validation panels, the training curves and the predictions. Only
what exists is named; a ``fast_dev_run`` writes nothing and says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter, ModelCheckpoint

from dmtl.curves import CURVES_FILE, METRICS_FILE, write_curves
from dmtl.errors import DataError
from dmtl.report import run_dir

# command -> the metrics files it writes into the run folder (dmtl.callbacks.results)
METRICS_FILES = {
    "fit": ("val_metrics.json", "val_initial_metrics.json"),
    "validate": ("validate_metrics.json",),
    "test": ("test_metrics.json",),
    "predict": (),
}
PICTURES = (("panels", "panels"), ("training curves", CURVES_FILE))


def result_paths(trainer: pl.Trainer, subcommand: str) -> list[tuple[str, Path]]:
    """``(what, path)`` of each result of ``subcommand`` that exists, the run folder first."""
    folder = run_dir(trainer)
    found: list[tuple[str, Path]] = [("run folder", folder)] if folder.is_dir() else []
    found += _checkpoints(trainer, subcommand)
    found += [("metrics", folder / name) for name in METRICS_FILES.get(subcommand, ())]
    if subcommand in ("fit", "validate", "test"):
        found.append(("metrics log", folder / METRICS_FILE))
    if subcommand in ("fit", "validate"):
        found += [(what, folder / name) for what, name in PICTURES]
    for callback in trainer.callbacks:
        output = getattr(callback, "output_dir", None)
        if subcommand == "predict" and isinstance(callback, BasePredictionWriter) and output:
            found.append(("predictions", Path(output)))
    return [(what, path) for what, path in found if path.exists()]


def _checkpoints(trainer: pl.Trainer, subcommand: str) -> list[tuple[str, Path]]:
    if subcommand != "fit":
        given = getattr(trainer, "ckpt_path", None)
        return [("checkpoint", Path(given))] if given else []
    found: list[tuple[str, Path]] = []
    for callback in trainer.checkpoint_callbacks:
        if not isinstance(callback, ModelCheckpoint):
            continue
        if callback.best_model_path:
            found.append(("checkpoint", Path(callback.best_model_path)))
        last = callback.last_model_path
        if last and Path(last) != Path(callback.best_model_path or ""):
            found.append(("last checkpoint", Path(last)))
    return found


def draw_training_curves(trainer: pl.Trainer) -> Path | None:
    """Write the run's ``curves.png`` from its ``metrics.csv`` at the end of fit (rank zero; not
    for a ``fast_dev_run`` or a run without ``metrics.csv``, as with the W&B logger). A
    ``metrics.csv`` with nothing to draw is said on one line: the run itself succeeded."""
    folder = run_dir(trainer)
    if not trainer.is_global_zero or trainer.fast_dev_run:
        return None
    if not (folder / METRICS_FILE).is_file():
        return None
    try:
        return write_curves(folder)
    except DataError as err:
        print(f"dmtl: no training curves: {err}", file=sys.stderr, flush=True)
        return None


def print_summary(trainer: pl.Trainer, subcommand: str) -> None:
    """Print where the results of ``subcommand`` are, on rank zero (no collective)."""
    if not trainer.is_global_zero:
        return
    if trainer.fast_dev_run:
        print(f"dmtl: {subcommand} was a fast_dev_run: nothing was written", flush=True)
        return
    for what, path in result_paths(trainer, subcommand):
        print(f"dmtl: {what}: {path}", flush=True)
