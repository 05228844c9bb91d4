"""The PNG plots of ``dmtl bench report``: paired differences and validation curves."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen
from matplotlib.ticker import MaxNLocator  # noqa: E402

from dmtl.bench.curves import Curve  # noqa: E402
from dmtl.bench.results import mean_std  # noqa: E402
from dmtl.tasks import TaskSpec  # noqa: E402

DPI = 120


def paired_differences(
    pairs: list[tuple[str, str, dict[int, float]]], setting: str, path: Path
) -> Path | None:
    """One row per (method, baseline): each seed's paired Δm difference as a dot, their mean
    with a ± std bar, and zero marked; the file, or ``None`` without pairs."""
    if not pairs:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(pairs) + 1.5))
    for row, (_, _, differences) in enumerate(pairs):
        values = list(differences.values())
        mean, std = mean_std(values)
        ax.errorbar(mean, row, xerr=std or 0.0, fmt="o", color="C0", capsize=4, markersize=7)
        ax.scatter(values, [row] * len(values), color="C1", s=14, zorder=3)
    ax.axvline(0.0, color="grey", linewidth=1)
    ax.set_yticks(range(len(pairs)))
    ax.set_yticklabels([f"{m} − {b} ({len(d)} seeds)" for m, b, d in pairs])
    ax.invert_yaxis()
    ax.set_xlabel("Δm difference, paired by seed (%): mean ± std (blue), seeds (orange)")
    ax.set_title(f"{setting}: each method against its baselines (last epoch)")
    return _save(fig, path)


def validation_curves(
    curves: Mapping[str, Mapping[int, Mapping[str, Curve]]],
    tasks: Mapping[str, TaskSpec],
    setting: str,
    path: Path,
) -> Path | None:
    """One panel per task: each method's validation curve of the task's primary metric, the
    mean over seeds with a band from the lowest to the highest seed; ``None`` without curves.

    Args:
        curves: method -> seed -> ``<task>/<metric>`` -> epoch -> value.
        tasks: the tasks to draw.
    """
    panels = [
        (name, spec)
        for name, spec in tasks.items()
        if any(f"{name}/{spec.primary_metric}" in c for s in curves.values() for c in s.values())
    ]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    for ax, (name, spec) in zip(axes[0], panels, strict=True):
        key = f"{name}/{spec.primary_metric}"
        for index, (method, by_seed) in enumerate(curves.items()):
            runs = [c[key] for c in by_seed.values() if key in c]
            epochs = sorted(set.intersection(*(set(r) for r in runs))) if runs else []
            if not epochs:
                continue
            values = [[r[e] for r in runs] for e in epochs]
            x = [e + 1 for e in epochs]  # epochs trained when validated
            ax.plot(x, [statistics.fmean(v) for v in values], color=f"C{index % 10}", label=method)
            low, high = [min(v) for v in values], [max(v) for v in values]
            ax.fill_between(x, low, high, color=f"C{index % 10}", alpha=0.2, linewidth=0)
        arrow = "↑" if spec.higher_is_better else "↓"
        ax.set_title(f"{name} {spec.primary_metric} {arrow}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{setting}: validation curves, mean over seeds (band: lowest to highest)")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
