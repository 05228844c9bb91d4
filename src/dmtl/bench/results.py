"""The finished cells of a grid and their statistics: Δm, paired differences, mean ± std.

Cells are held as ``setting -> method -> seed -> metrics`` (``{task: {metric: value}}``), read
from the ``cell.json`` files of a grid's folder (``load_cells``) or built by another reader.
Δm is ``dmtl.metrics.multitask.delta_m`` on each task's primary metric (``dmtl.tasks.TASKS``),
against a reference: each task's single-task cells of the same setting averaged over their
seeds, or a fixed results file.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from pathlib import Path

from dmtl.bench.cell import CELL_FILE
from dmtl.metrics.multitask import delta_m
from dmtl.tasks import TASKS

Metrics = Mapping[str, Mapping[str, float]]  # task -> metric -> value
Cells = dict[str, dict[str, dict[int, dict]]]  # setting -> method -> seed -> metrics
MINUS = "−"  # the sign of a negative paired difference in the per-seed signs


def load_records(out: Path) -> Cells:
    """setting -> method -> seed -> the ``cell.json`` record of every finished cell under a
    grid's folder ``out``."""
    records: Cells = {}
    for path in sorted(Path(out).glob(f"*/*/seed*/{CELL_FILE}")):
        record = json.loads(path.read_text())
        by_method = records.setdefault(record["setting"], {})
        by_method.setdefault(record["method"], {})[int(record["seed"])] = record
    return records


def load_cells(out: Path, split: str = "test") -> Cells:
    """The ``split`` metrics (``test``: the last epoch's checkpoint; ``val``: the fit's final
    validation) of every finished cell under a grid's folder ``out``."""
    cells: Cells = {}
    for setting, by_method in load_records(out).items():
        for method, by_seed in by_method.items():
            for seed, record in by_seed.items():
                if record.get(split) is not None:
                    cells.setdefault(setting, {}).setdefault(method, {})[seed] = record[split]
    return cells


def single_task_reference(
    cells: Mapping[str, Mapping[int, Metrics]], single_task: Mapping[str, str]
) -> tuple[dict[str, dict[str, float]], list[int]]:
    """The Δm reference of one setting: each task's single-task metrics, averaged over seeds.

    Args:
        cells: method -> seed -> metrics, of one setting.
        single_task: the single-task method of each task (method -> task).

    Returns:
        The reference (``{task: {metric: mean}}``; empty while a task has no cell) and the seeds
        that every task's single-task method has.
    """
    per_task = {task: cells.get(method, {}) for method, task in single_task.items()}
    if not per_task or not all(per_task.values()):
        return {}, []
    reference = {}
    for task, by_seed in per_task.items():
        first = next(iter(by_seed.values()))[task]
        reference[task] = {
            metric: statistics.fmean(m[task][metric] for m in by_seed.values())
            for metric, value in first.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
    seeds = sorted(set.intersection(*(set(by_seed) for by_seed in per_task.values())))
    return reference, seeds


def delta_m_of(metrics: Metrics, reference: Metrics) -> float:
    """Δm (%) of one cell's metrics against the reference, over the reference's tasks."""
    return delta_m(metrics, reference, [TASKS[task] for task in reference])


def seed_deltas(by_seed: Mapping[int, Metrics], reference: Metrics) -> dict[int, float]:
    """seed -> Δm of each cell of one method (empty without a reference)."""
    if not reference:
        return {}
    return {seed: delta_m_of(metrics, reference) for seed, metrics in by_seed.items()}


def paired(deltas: Mapping[int, float], against: Mapping[int, float]) -> dict[int, float]:
    """seed -> Δm minus the other method's Δm at the same seed, over the seeds both have."""
    return {seed: d - against[seed] for seed, d in sorted(deltas.items()) if seed in against}


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (``None`` for one value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else None


def fmt(values: list[float], digits: int) -> str:
    """``mean ± std`` of the values, ``mean (1 seed)`` of one, ``–`` of none."""
    if not values:
        return "–"
    mean, std = mean_std(values)
    if std is None:
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def signs(differences: Mapping[int, float]) -> str:
    """The per-seed signs of paired differences, in seed order: ``+ + −`` (``0`` for a tie)."""
    return " ".join(
        "+" if d > 0 else MINUS if d < 0 else "0" for _, d in sorted(differences.items())
    )


def digits_of(task: str) -> int:
    """Decimals shown for a task's metrics: 4 for depth (metres), else 2."""
    return 4 if task == "depth" else 2
