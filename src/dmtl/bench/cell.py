"""One cell of a grid: ``dmtl fit`` then ``dmtl test`` of its last checkpoint, resumable.

The cell's folder ``<out>/<setting>/<method>/seed<s>/`` is its fit's run folder (config,
``metrics.csv``, ``checkpoints/``, ``val_metrics.json``); the test runs in ``test/`` inside it.
Files of bench's own there:

- ``commands.jsonl``: every command started for the cell, one JSON line each, in order;
- ``fit.log``, ``test.log``: their output (appended to on a restart);
- ``fit.json``: the fit finished (its command and wall time): a restart goes on with the test;
- ``cell.json``: the cell is finished and is never run again (``CELL_FILE``, keys below);
- ``bench.lock``: locked (``flock``) while a process runs the cell, so that a second runner on the
  same folder passes it over (``CellBusy``); the kernel drops the lock when the process dies.

A cell without ``fit.json`` starts its fit again, from ``checkpoints/last.ckpt`` when that
exists (``--ckpt_path``). Model selection is the last epoch: the test scores ``last.ckpt`` (or,
without one, the newest checkpoint).
"""

from __future__ import annotations

import fcntl
import json
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import dmtl
from dmtl.bench.commands import TEST_FOLDER, cell_environment, evaluation_command, fit_command
from dmtl.bench.spec import Cell, Spec
from dmtl.bench.stopping import STOP
from dmtl.errors import DMTLError

CELL_FILE = "cell.json"
LOCK_FILE = "bench.lock"
FIT_FILE = "fit.json"
COMMANDS_FILE = "commands.jsonl"
LAST = "last.ckpt"


class CellFailed(DMTLError):
    """A command of a cell exited with an error (the message names its log)."""


class CellBusy(DMTLError):
    """Another process runs the cell now."""


def is_finished(cell: Cell, out: Path) -> bool:
    """Whether the cell has its ``cell.json``."""
    return (cell.folder(out) / CELL_FILE).is_file()


def resume_checkpoint(folder: Path) -> Path | None:
    """``checkpoints/last.ckpt`` of a run folder when it is there and whole (a link resolves)."""
    last = folder / "checkpoints" / LAST
    try:
        return last if last.stat().st_size > 0 else None
    except OSError:
        return None


def final_checkpoint(folder: Path) -> Path:
    """The checkpoint of the last epoch: ``last.ckpt``, else the newest ``*.ckpt``.

    Raises:
        CellFailed: the fit left no checkpoint.
    """
    last = resume_checkpoint(folder)
    if last is not None:
        return last
    found = [p for p in (folder / "checkpoints").glob("*.ckpt") if p.exists()]  # no dangling
    found.sort(key=lambda p: p.stat().st_mtime_ns)
    if not found:
        raise CellFailed(f"{folder}: the fit left no checkpoint in checkpoints/ to test")
    return found[-1]


def plan(cell: Cell, out: Path) -> str:
    """What running the cell does now: ``finished``, ``test``, ``resume`` or ``start``."""
    folder = cell.folder(out)
    if (folder / CELL_FILE).is_file():
        return "finished"
    if (folder / FIT_FILE).is_file():
        return "test"
    return "resume" if resume_checkpoint(folder) is not None else "start"


def run_cell(
    spec: Spec, cell: Cell, out: Path, extra: list[str] = (), threads: int | None = None
) -> dict | None:
    """Run what the cell still needs and write its ``cell.json``; ``None`` if it was finished.

    Raises:
        CellFailed: its fit or test exited with an error, or wrote no results.
        CellBusy: another process runs it now.
        CellStopped: the grid is stopping (``dmtl.bench.stopping``).
    """
    folder = cell.folder(out)
    if (folder / CELL_FILE).is_file():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise CellBusy(f"cell {cell.name} is run by another process now") from err
        except OSError:  # a file system without locks: run it unlocked
            pass
        if (folder / CELL_FILE).is_file():  # finished by the process that held the lock
            return None
        return _run_unlocked(spec, cell, out, list(extra), threads)


def _run_unlocked(spec: Spec, cell: Cell, out: Path, extra: list[str], threads: int | None) -> dict:
    folder = cell.folder(out)
    env = cell_environment(threads)
    commit, dirty = source_commit()  # the code of this cell, read before it runs
    teacher = spec.teacher_cell(cell)
    if teacher is not None and not (teacher.folder(out) / FIT_FILE).is_file():
        raise CellFailed(
            f"cell {cell.name}: its teacher cell {teacher.name} has not finished its fit; "
            "run it first (the grid runs it first in spec order)"
        )
    if not (folder / FIT_FILE).is_file():
        command = fit_command(spec, cell, out, extra, threads, resume_checkpoint(folder))
        wall = _run(command, env, folder, "fit")
        _write_json(folder / FIT_FILE, {"command": command, "wall_s": wall})
    fit = json.loads((folder / FIT_FILE).read_text())
    checkpoint = final_checkpoint(folder)
    command = evaluation_command(spec, cell, out, checkpoint, extra, threads)
    wall = _run(command, env, folder, "test")
    test_file = folder / TEST_FOLDER / "test_metrics.json"
    if not test_file.is_file():
        raise CellFailed(f"cell {cell.name}: the test wrote no {test_file}")
    record = {
        "setting": cell.setting,
        "method": cell.method,
        "seed": cell.seed,
        "test": json.loads(test_file.read_text()),
        "val": _read_json(folder / "val_metrics.json"),
        "val_initial": _read_json(folder / "val_initial_metrics.json"),
        "checkpoint": str(checkpoint.resolve().relative_to(folder.resolve())),
        "commands": [json.loads(line)["command"] for line in _command_lines(folder)],
        "wall_s": {"fit": fit["wall_s"], "test": wall},
        "threads": threads,
        "host": socket.gethostname(),
        "commit": commit,
        "dirty": dirty,
        "dmtl_version": dmtl.__version__,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_json(folder / CELL_FILE, record)
    return record


def source_commit() -> tuple[str, bool | None]:
    """The git commit of the dmtl source this process runs and whether tracked files changed;
    ``("dmtl <version>", None)`` outside a checkout."""
    git = ["git", "-C", str(Path(dmtl.__file__).resolve().parent)]
    try:
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
        status = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        )
    except OSError:  # no git
        return f"dmtl {dmtl.__version__}", None
    if head.returncode != 0:
        return f"dmtl {dmtl.__version__}", None
    return head.stdout.strip(), bool(status.stdout.strip())


def _run(command: list[str], env: dict, folder: Path, stage: str) -> float:
    """Run one command of the cell with its output appended to ``<stage>.log``; its wall time."""
    line = {
        "stage": stage,
        "command": command,
        "host": socket.gethostname(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with (folder / COMMANDS_FILE).open("a") as handle:
        handle.write(json.dumps(line) + "\n")
    log = folder / f"{stage}.log"
    start = time.monotonic()
    with log.open("a") as handle:  # a stop signal of the grid reaches it (dmtl.bench.stopping)
        code = STOP.run(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    if code != 0:
        raise CellFailed(f"`dmtl {stage}` of {folder} exited with {code}; see {log}")
    return round(time.monotonic() - start, 1)


def _command_lines(folder: Path) -> list[str]:
    path = folder / COMMANDS_FILE
    return [line for line in path.read_text().splitlines() if line.strip()]


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _write_json(path: Path, payload: dict) -> None:
    """Write JSON through a temporary file and a rename: a kill leaves the old file or none."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(payload, indent=1) + "\n")
    partial.replace(path)
