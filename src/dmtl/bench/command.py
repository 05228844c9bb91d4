"""``dmtl bench run|slurm|report``: a grid of methods x label settings x seeds, compared fairly.

Usage::

    dmtl bench run SPEC --out DIR [--methods M ..] [--settings S ..] [--seeds K ..]
        [--jobs N --threads T] [--cell INDEX] [--dry-run] [-- EXTRA CLI ARGS]
    dmtl bench slurm SPEC --out DIR [same selection] [--dry-run] [--sbatch=OPTION ..] [-- EXTRA]
    dmtl bench report DIR [--spec SPEC]

``run`` trains and tests every cell of the grid spec (``dmtl.bench.spec``, docs/bench.md) that
is not finished, each a ``dmtl fit`` then a ``dmtl test`` of its last checkpoint in its own run
folder ``DIR/<setting>/<method>/seed<s>/``; a finished cell is never run again, an interrupted
one resumes from its checkpoint (``dmtl.bench.cell``). A stop signal to the bench stops its cells
with resumable checkpoints (``dmtl.bench.stopping``). ``--jobs N`` runs N cells at once,
``--threads T`` gives each T CPU threads and loads its data in the training process. Arguments
after ``--`` go to every ``dmtl fit`` and ``dmtl test`` (after the spec's). ``slurm`` writes a
SLURM array script, one task per cell (each ``dmtl bench run ... --cell INDEX``), and submits it.
``report`` writes ``DIR/report.md`` and its plots from the finished cells.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dmtl.bench.runner import run_grid, say
from dmtl.bench.spec import Spec, load_spec
from dmtl.bench.stopping import stop_signals
from dmtl.errors import ConfigError, MissingDataError

COMMAND = "bench"
GRID_FILE = "bench.json"  # the path of a grid's spec, kept in its output folder


def main(argv: Sequence[str]) -> None:
    """Run ``dmtl bench`` on its arguments (those after ``bench``)."""
    argv = list(argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    args = _parser().parse_args(argv)
    if args.action == "report":
        from dmtl.bench.report import write_report  # matplotlib only where it is needed

        spec = load_spec(args.spec or _recorded_spec(Path(args.dir)))
        say(f"wrote {write_report(spec, Path(args.dir))}")
        return
    spec = load_spec(args.spec)
    cells = spec.cells(args.methods, args.settings, args.seeds)
    out = Path(args.out)
    if args.action == "slurm":
        from dmtl.bench.slurm import submit

        selection = [
            *(["--methods", *args.methods] if args.methods else []),
            *(["--settings", *args.settings] if args.settings else []),
            *(["--seeds", *map(str, args.seeds)] if args.seeds else []),
        ]
        if not args.dry_run:
            _keep_spec(spec, out)
        submit(spec, cells, out, selection, extra, args.threads, args.sbatch, args.dry_run)
        return
    if args.cell is not None:
        if not 0 <= args.cell < len(cells):
            raise ConfigError(f"--cell {args.cell}: the selection has cells 0..{len(cells) - 1}")
        cells = [cells[args.cell]]
    if not args.dry_run:
        _keep_spec(spec, out)
    with stop_signals() as stop:
        failures = run_grid(spec, cells, out, extra, args.jobs, args.threads, args.dry_run)
        received = stop.received
    if received is not None:
        say(
            f"stopped by {received.name}; the stopped cells resume from their checkpoints "
            "when the same command runs again"
        )
        sys.exit(128 + received)
    if failures:
        print("\n".join(f"dmtl bench: failed: {line}" for line in failures), file=sys.stderr)
        sys.exit(1)


def _keep_spec(spec: Spec, out: Path) -> None:
    """Record the spec's path, relative to the output folder, for ``report``."""
    out.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(spec.path.resolve(), out.resolve())
    (out / GRID_FILE).write_text(json.dumps({"spec": relative}, indent=1) + "\n")


def _recorded_spec(out: Path) -> Path:
    """The spec that ``run`` recorded in the output folder.

    Raises:
        MissingDataError: no grid was run there.
    """
    record = out / GRID_FILE
    if not record.is_file():
        raise MissingDataError(f"{record} does not exist: pass --spec SPEC, or run the grid first")
    return out / json.loads(record.read_text())["spec"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"dmtl {COMMAND}",
        description="A grid of methods x label settings x seeds: run it, on a SLURM cluster "
        "or here, then report it with paired statistics (docs/bench.md).",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="train and test the unfinished cells here")
    slurm = actions.add_parser("slurm", help="submit the cells as a SLURM array job")
    for sub in (run, slurm):
        sub.add_argument("spec", help="the grid spec (YAML)")
        sub.add_argument("--out", required=True, help="the grid's output folder")
        sub.add_argument("--methods", nargs="+", help="only these methods")
        sub.add_argument("--settings", nargs="+", help="only these label settings")
        sub.add_argument("--seeds", nargs="+", type=int, help="only these seeds")
        sub.add_argument("--threads", type=int, help="CPU threads per cell (no loader workers)")
        sub.add_argument("--dry-run", action="store_true", help="print, run nothing")
    run.add_argument("--jobs", type=int, default=1, help="cells run at once")
    run.add_argument("--cell", type=int, help="run only this cell of the selection (0-based)")
    slurm.add_argument(
        "--sbatch",
        action="append",
        default=[],
        metavar="OPTION",
        help="an #SBATCH option of the array job, e.g. --sbatch=--time=4:00:00 (repeatable)",
    )
    report = actions.add_parser("report", help="tables and plots of the finished cells")
    report.add_argument("dir", help="the grid's output folder")
    report.add_argument("--spec", help="the grid spec (default: the one `run` recorded in DIR)")
    return parser
