"""The validation curves of a grid's cells, from each run folder's ``metrics.csv``."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from dmtl.bench.results import delta_m_of
from dmtl.errors import ConfigError

Curve = dict[int, float]  # epoch -> value
VAL_PREFIX = "val/"


def read_curves(metrics_csv: Path) -> dict[str, Curve]:
    """``val/<task>/<metric>`` -> epoch -> value of one run's ``metrics.csv``.

    A restarted run logs an epoch again after its last checkpoint: the last value of an epoch
    wins. A missing file gives no curves.
    """
    if not metrics_csv.is_file():
        return {}
    curves: dict[str, Curve] = {}
    with metrics_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            for column, value in row.items():
                if column and column.startswith(VAL_PREFIX) and value not in (None, ""):
                    curves.setdefault(column.removeprefix(VAL_PREFIX), {})[epoch] = float(value)
    return curves


def grid_curves(out: Path, setting: str, method: str) -> dict[int, dict[str, Curve]]:
    """seed -> the validation curves of each cell of one method and setting under ``out``."""
    folder = Path(out) / setting / method
    return {
        int(path.parent.name.removeprefix("seed")): read_curves(path)
        for path in sorted(folder.glob("seed*/metrics.csv"))
    }


def epoch_metrics(curves: Mapping[str, Curve], epoch: int) -> dict[str, dict[str, float]]:
    """``{task: {metric: value}}`` of one validated epoch of a run's curves."""
    metrics: dict[str, dict[str, float]] = {}
    for key, curve in curves.items():
        task, _, metric = key.partition("/")
        if metric and "/" not in metric and epoch in curve:
            metrics.setdefault(task, {})[metric] = curve[epoch]
    return metrics


def best_epoch_delta(curves: Mapping[str, Curve], reference: Mapping) -> tuple[int, float] | None:
    """The validated epoch of a run with the highest Δm against ``reference``, and that Δm.

    ``None`` without a reference or without an epoch that has every reference task's metric.
    """
    if not reference:
        return None
    epochs = sorted({epoch for curve in curves.values() for epoch in curve})
    scored = []
    for epoch in epochs:
        try:  # an epoch without a task's primary metric has no Δm
            scored.append((delta_m_of(epoch_metrics(curves, epoch), reference), epoch))
        except ConfigError:
            continue
    if not scored:
        return None
    best, epoch = max(scored)
    return epoch, best
