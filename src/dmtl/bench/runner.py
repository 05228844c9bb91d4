"""Running the cells of a grid that are not finished, ``jobs`` at a time."""

from __future__ import annotations

import shlex
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dmtl.bench.cell import CellBusy, plan, resume_checkpoint, run_cell
from dmtl.bench.commands import fit_command
from dmtl.bench.spec import Cell, Spec
from dmtl.bench.stopping import STOP, CellStopped


def say(text: str) -> None:
    """A progress line of ``dmtl bench`` on stderr."""
    print(f"dmtl bench: {text}", file=sys.stderr, flush=True)


def run_grid(
    spec: Spec,
    cells: list[Cell],
    out: Path,
    extra: list[str] = (),
    jobs: int = 1,
    threads: int | None = None,
    dry_run: bool = False,
    report: Callable[[str], None] = say,
) -> list[str]:
    """Run every cell that is not finished; the error line of each cell that failed.

    A failed cell does not stop the others; running the grid again retries it (resuming its
    fit from its last checkpoint). ``dry_run`` prints what each cell would do and its fit
    command, and runs nothing.
    """
    plans = {cell: plan(cell, out) for cell in cells}
    todo = [cell for cell in cells if plans[cell] != "finished"]
    report(f"{len(cells) - len(todo)} of {len(cells)} cells finished, {len(todo)} to run")
    if dry_run:
        for cell in todo:
            ckpt = resume_checkpoint(cell.folder(out))
            command = fit_command(spec, cell, out, list(extra), threads, ckpt)
            print(f"{cell.name}: {plans[cell]}\n  {shlex.join(command)}", flush=True)
        return []

    # A cell waits for its teacher cell (docs/teachers.md) when both run now: the pool starts
    # cells in order and a teacher comes before its students, so it is never queued behind them.
    done = {cell: threading.Event() for cell in todo}
    stopped: list[str] = []

    def one(cell: Cell) -> str | None:
        teacher = spec.teacher_cell(cell)
        if teacher in done:
            done[teacher].wait()
        try:
            return attempt(cell)
        finally:
            done[cell].set()

    def attempt(cell: Cell) -> str | None:
        if STOP.received is not None:  # the grid is stopping (dmtl.bench.stopping)
            return None
        report(f"{cell.name}: {plans[cell]}")
        try:
            record = run_cell(spec, cell, out, extra, threads)
        except CellBusy as busy:
            report(f"{cell.name}: passed over: {busy}")
            return None
        except CellStopped as stop:
            report(f"{cell.name}: {stop}")
            stopped.append(cell.name)
            return None
        except Exception as err:  # noqa: BLE001 - one cell's failure must not stop the others
            report(f"{cell.name}: failed: {err}")
            return f"{cell.name}: {err}"
        if record is not None:
            walls = record["wall_s"]
            report(f"{cell.name}: finished (fit {walls['fit']} s, test {walls['test']} s)")
        return None

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        failures = [error for error in pool.map(one, todo) if error is not None]
    if STOP.received is None:
        report(f"{len(todo) - len(failures)} cells run, {len(failures)} failed")
    else:
        report(f"{len(stopped)} cells stopped, {len(failures)} failed before the stop")
    return failures
