"""Per-task metric tables, result files, and the folder a run's reports go to."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from dmtl.data.datasets import has_inverse_depth

Results = Mapping[str, Mapping[str, float]]
# kind -> metric -> unit (normals' within_<t> shares are % too)


def format_table(
    results: Results,
    title: str,
    extra: Mapping[str, float] | None = None,
    *,
    dataset: str | None = None,
) -> str:
    """A plain-text table: one row per task, its metrics as ``name ↑|↓ value unit`` cells.

    The arrow is the metric's direction (↑ higher is better), read from the metric of the task's
    kind; the unit is % (mIoU, accuracies, F-measures, δ1, the within-t° shares), m (depth
    errors; none for inverse depth) or ° (normal angles); relative errors have none. A task not
    in the registry gets neither.

    Args:
        results: task -> metric -> value.
        title: first line.
        extra: scalar results shown below the rows (e.g. ``delta_m``, in %, higher is better).
        dataset: the ``data.dataset`` of the results; depth of the Cityscapes datasets is
            inverse depth, without a unit.
    """
    width = max([len(t) for t in results] + [len(k) for k in extra or {}] + [4])
    lines = [title, "-" * len(title)]
    for task, metrics in results.items():
        directions, units = _directions(task), _units(task, dataset)
        cells = "  ".join(
            _cell(name, value, directions.get(name), units.get(name, ""))
            for name, value in metrics.items()
        )
        lines.append(f"{task:<{width}}  {cells}")
    for name, value in (extra or {}).items():
        arrow = "↑ " if name == "delta_m" else ""
        unit = " %" if name == "delta_m" else ""
        lines.append(f"{name:<{width}}  {arrow}{value:8.4f}{unit}")
    return "\n".join(lines)


def _cell(name: str, value: float, higher_is_better: bool | None, unit: str) -> str:
    arrow = "" if higher_is_better is None else (" ↑" if higher_is_better else " ↓")
    return f"{name}{arrow} {value:8.4f}{' ' + unit if unit else ''}"


@functools.cache
def _directions(task: str) -> dict[str, bool]:
    """metric -> higher is better, of the metric that the task's kind builds."""
    # dmtl.metrics.multitask imports dmtl.tasks, which imports the kinds: import when first needed.
    from dmtl.metrics.multitask import build_metric
    from dmtl.tasks import TASKS

    if task not in TASKS:
        return {}
    return dict(getattr(build_metric(TASKS[task]), "higher_is_better_by_key", {}))


def _units(task: str, dataset: str | None) -> dict[str, str]:
    from dmtl.tasks import TASKS

    if task not in TASKS:
        return {}
    return TASKS[task].behaviour.metric_units(_directions(task), has_inverse_depth(dataset))


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
