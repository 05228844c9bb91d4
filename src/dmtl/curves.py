"""The training curves of a run, drawn from its ``metrics.csv`` into ``curves.png``.

One small plot each: the training loss (the total and each task's), the learning rate, and each
validation metric (``val/<task>/<metric>``, with the initial predictions' ``val_initial/...`` on
the same axes where DiffusionMTL scored them, and ``val/delta_m``), against the optimiser step.
Written at the end of ``dmtl fit`` and by ``dmtl plot RUN`` for any run with a ``metrics.csv``.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dmtl.errors import DataError, MissingDataError

METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
COLUMNS = 3  # plots per row
PLOT_SIZE = (4.0, 2.8)  # inches of one plot
DPI = 90
Series = dict[str, list[tuple[float, float]]]  # column -> [(step, value), ...]


def read_series(path: Path) -> Series:
    """Each column of a Lightning ``metrics.csv`` as its (step, value) points, empty cells left out.

    Raises:
        MissingDataError: no such file.
        DataError: it has no ``step`` column or no value.
    """
    if not path.is_file():
        raise MissingDataError(f"{path} does not exist: a run folder of the CSV logger holds it")
    series: Series = defaultdict(list)
    with path.open(newline="") as rows:
        for row in csv.DictReader(rows):
            if not row.get("step"):
                continue
            step = float(row["step"])
            for key, cell in row.items():
                if key not in ("step", "epoch") and cell not in ("", None):
                    value = float(cell)
                    if math.isfinite(value):
                        series[key].append((step, value))
    if not series:
        raise DataError(f"{path} holds no logged value (no column beside step and epoch)")
    return dict(series)


def plot_groups(series: Series) -> dict[str, list[str]]:
    """Title -> the columns drawn on that plot, in the order they are drawn."""
    groups: dict[str, list[str]] = {}
    losses = sorted(k for k in series if k == "train/loss" or k.startswith("train/loss/"))
    if losses:
        groups["training loss"] = losses
    rates = sorted(k for k in series if k.startswith("lr-"))
    if rates:
        groups["learning rate"] = rates
    for key in sorted(k for k in series if k.startswith("val/")):
        initial = "val_initial/" + key.removeprefix("val/")
        groups[key] = [key] + ([initial] if initial in series else [])
    return groups


def draw_curves(series: Series, title: str) -> Figure:
    """A figure of the plots of ``plot_groups``."""
    groups = plot_groups(series)
    if not groups:
        raise DataError(f"{title}: no training loss, learning rate or validation metric logged")
    rows = math.ceil(len(groups) / COLUMNS)
    columns = min(COLUMNS, len(groups))
    figure = Figure(figsize=(PLOT_SIZE[0] * columns, PLOT_SIZE[1] * rows), dpi=DPI)
    figure.suptitle(title)
    for index, (name, keys) in enumerate(groups.items()):
        axes = figure.add_subplot(rows, columns, index + 1)
        for key in keys:
            steps, values = zip(*series[key])
            label = "initial" if key.startswith("val_initial/") else key.rpartition("/")[2]
            style = "o-" if key.startswith("val") else "-"
            axes.plot(steps, values, style, markersize=3, linewidth=1, label=label)
        axes.set_title(name, fontsize=9)
        axes.set_xlabel("step", fontsize=8)
        axes.tick_params(labelsize=7)
        if len(keys) > 1:
            axes.legend(fontsize=7)
    figure.tight_layout()
    return figure


def write_curves(run: str | Path) -> Path:
    """Draw ``run/metrics.csv`` into ``run/curves.png``; return its path.

    Raises:
        MissingDataError: no ``metrics.csv`` in ``run``.
        DataError: nothing to draw in it.
    """
    run = Path(run)
    figure = draw_curves(read_series(run / METRICS_FILE), str(run))
    path = run / CURVES_FILE
    FigureCanvasAgg(figure).print_png(str(path))
    return path
