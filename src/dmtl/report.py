"""Per-task metric tables and result files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

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
