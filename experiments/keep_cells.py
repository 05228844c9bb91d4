"""Copy the finished cells of a ``dmtl bench`` grid into the repository's results.

Each finished cell (one with a ``cell.json``) keeps its record (commit, commands, wall time, test
and validation metrics), its commands and its ``metrics.csv`` (the validation curve) under
``DEST/<setting>/<method>/seed<s>/``: the layout of a grid's own folder, so that

    dmtl bench report DEST --spec SPEC

tables and plots the kept cells as it does the grid. Cells already kept are left alone; the
checkpoints and logs stay in the grid's folder.

Usage:
    python experiments/keep_cells.py runs/field experiments/synthetic/results/field
    python experiments/keep_cells.py runs/field experiments/synthetic/results/field_diagnostics \
        --methods stl_semseg stl_depth stl_normals mtl consistency consistency_no_depth
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

KEPT = ("cell.json", "commands.jsonl", "metrics.csv")


def keep(grid: Path, dest: Path, methods: list[str] | None = None) -> list[str]:
    """Copy every finished cell of ``grid`` (of ``methods``, if given) not yet under ``dest``;
    return their names."""
    copied = []
    for record in sorted(grid.glob("*/*/seed*/cell.json")):
        cell = record.parent
        name = cell.relative_to(grid)
        if methods is not None and name.parts[1] not in methods:
            continue
        target = dest / name
        if (target / "cell.json").exists():
            continue
        target.mkdir(parents=True, exist_ok=True)
        for file in KEPT:
            if (cell / file).exists():
                shutil.copy2(cell / file, target / file)
        copied.append(str(name))
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", type=Path, help="the grid's output folder (dmtl bench run --out)")
    parser.add_argument("dest", type=Path, help="where the kept cells go")
    parser.add_argument("--methods", nargs="+", help="only these methods' cells")
    args = parser.parse_args()
    for name in keep(args.grid, args.dest, args.methods):
        print(f"kept {name}")


if __name__ == "__main__":
    main()
