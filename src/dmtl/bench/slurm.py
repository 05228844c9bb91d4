"""``dmtl bench slurm``: a grid's unfinished cells as one SLURM array job, one task per cell.

Array task ``i`` runs ``dmtl bench run SPEC --out DIR <selection> --cell i``: the i-th cell of
the same selection, in the same folder as a local run, with the same resume rules. The script
is written to ``DIR/slurm/bench.sbatch`` and each task's output to ``DIR/slurm/<job>_<i>.out``.
A task that stops (time limit, preemption, node failure) leaves its cell to resume: submitting
again puts the cells that are still unfinished into a new array.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from dmtl.bench.cell import is_finished
from dmtl.bench.commands import dmtl_command
from dmtl.bench.runner import say
from dmtl.bench.spec import Cell, Spec
from dmtl.errors import ConfigError

SCRIPT = "bench.sbatch"
ENVIRONMENT = (
    "NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 WANDB_MODE=${WANDB_MODE:-offline} "
    "PYTHONUNBUFFERED=1"
)


def array_script(
    spec: Spec,
    cells: list[Cell],
    out: Path,
    selection: list[str],
    extra: list[str] = (),
    threads: int | None = None,
    sbatch: list[str] = (),
) -> str:
    """The sbatch script of the unfinished ``cells`` (``selection``: the arguments that select
    them, passed on to each task's ``dmtl bench run``).

    Raises:
        ConfigError: every cell is finished.
    """
    todo = [index for index, cell in enumerate(cells) if not is_finished(cell, out)]
    if not todo:
        raise ConfigError(f"every cell of the selection is finished in {out}: nothing to submit")
    logs = Path(out).resolve() / "slurm"
    run = [
        *dmtl_command(),
        "bench",
        "run",
        str(spec.path.resolve()),
        f"--out={Path(out).resolve()}",
        *selection,
        *([f"--threads={threads}"] if threads else []),
    ]
    tail = ["--", *extra] if extra else []
    lines = [
        "#!/bin/bash",
        f"# dmtl bench: {len(todo)} unfinished cells of {spec.path}, one array task each",
        "# (written by `dmtl bench slurm`; task i runs the i-th cell of the selection).",
        "#SBATCH --job-name=dmtl-bench",
        f"#SBATCH --array={_ranges(todo)}",
        f"#SBATCH --output={logs}/%A_%a.out",
        *([f"#SBATCH --cpus-per-task={threads}"] if threads else []),
        *(f"#SBATCH {option}" for option in sbatch),
        "",
        "set -euo pipefail",
        f"cd {shlex.quote(os.getcwd())}",
        f"export {ENVIRONMENT}",
        f'{shlex.join(run)} --cell "${{SLURM_ARRAY_TASK_ID}}" {shlex.join(tail)}'.rstrip(),
        "",
    ]
    return "\n".join(lines)


def submit(
    spec: Spec,
    cells: list[Cell],
    out: Path,
    selection: list[str],
    extra: list[str] = (),
    threads: int | None = None,
    sbatch: list[str] = (),
    dry_run: bool = False,
) -> Path:
    """Write the array script into ``out/slurm/`` and submit it with ``sbatch`` (print it
    with ``dry_run``); the script's path.

    Raises:
        ConfigError: every cell is finished, or ``sbatch`` is not there or refused the job.
    """
    text = array_script(spec, cells, out, selection, extra, threads, sbatch)
    folder = Path(out) / "slurm"
    folder.mkdir(parents=True, exist_ok=True)  # SLURM opens --output before the script runs
    path = folder / SCRIPT
    path.write_text(text)
    if dry_run:
        print(text, end="", flush=True)
        return path
    try:
        done = subprocess.run(["sbatch", str(path)], capture_output=True, text=True)
    except FileNotFoundError as err:
        raise ConfigError(f"no sbatch on PATH: submit {path} on the cluster yourself") from err
    if done.returncode != 0:
        raise ConfigError(f"sbatch refused {path}: {done.stderr.strip() or done.stdout.strip()}")
    say(f"{done.stdout.strip()} ({path})")
    return path


def _ranges(indices: list[int]) -> str:
    """``0-3,5,7-8``: the array indices as SLURM ranges."""
    parts, start = [], indices[0]
    for previous, index in zip(indices, [*indices[1:], None], strict=True):
        if index is None or index != previous + 1:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = index
    return ",".join(parts)
