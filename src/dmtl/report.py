"""Per-task metric tables, result files, and the folder a run's reports go to."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

Results = Mapping[str, Mapping[str, float]]


def format_table(results: Results, title: str, extra: Mapping[str, float] | None = None) -> str:
    """A plain-text table: one row per task, its metrics as ``name value`` pairs.

    Args:
        results: task -> metric -> value.
        title: first line.
        extra: scalar results shown below the rows (e.g. ``delta_m``).
    """
    width = max([len(t) for t in results] + [4])
    lines = [title, "-" * len(title)]
    for task, metrics in results.items():
        cells = "  ".join(f"{name} {value:8.4f}" for name, value in metrics.items())
        lines.append(f"{task:<{width}}  {cells}")
    for name, value in (extra or {}).items():
        lines.append(f"{name:<{width}}  {value:8.4f}")
    return "\n".join(lines)


def write_results(
    results: Results, path: str | Path, extra: Mapping[str, float] | None = None
) -> Path:
    """Write results as JSON ``{task: {metric: value}, ...extra}`` (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {task: dict(metrics) for task, metrics in results.items()}
    payload.update(dict(extra or {}))
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def run_dir(trainer: pl.Trainer) -> Path:
    """The folder of a run's panels and result files: the first logger's, else the root dir.

    The versioned folder of a CSV or TensorBoard logger, the save dir of any other logger (W&B),
    and ``trainer.default_root_dir`` without a logger. Safe on one process alone: unlike
    ``trainer.log_dir``, which broadcasts from rank 0, it runs no collective, so rank-zero-only
    writers can call it without hanging a DDP run.
    """
    logger = trainer.loggers[0] if trainer.loggers else None
    if isinstance(logger, (CSVLogger, TensorBoardLogger)):
        path = logger.log_dir
    else:
        path = logger.save_dir if logger is not None else None
    return Path(path or trainer.default_root_dir)
