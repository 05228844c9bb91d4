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
    """The folder of a run: its config, panels, result files, checkpoints (and W&B files).

    The versioned folder of a CSV or TensorBoard logger; ``save_dir/name/version`` of any other
    logger with a version (for W&B: ``save_dir/<project>/<run id>``), the folder Lightning's
    ``ModelCheckpoint`` puts ``checkpoints/`` in; the save dir of a logger without a version;
    ``trainer.default_root_dir`` without a logger. Safe on one process alone: unlike
    ``trainer.log_dir``, which broadcasts from rank 0, it runs no collective, so rank-zero-only
    writers can call it without hanging a DDP run.
    """
    logger = trainer.loggers[0] if trainer.loggers else None
    if isinstance(logger, (CSVLogger, TensorBoardLogger)):
        return Path(logger.log_dir)
    save_dir = logger.save_dir if logger is not None else None
    if save_dir is None:
        return Path(trainer.default_root_dir)
    version = getattr(logger, "version", None)
    if version is None:
        return Path(save_dir)
    version = version if isinstance(version, str) else f"version_{version}"
    return Path(save_dir) / str(getattr(logger, "name", None)) / version
