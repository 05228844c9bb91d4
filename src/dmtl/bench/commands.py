"""The ``dmtl fit`` and ``dmtl test`` commands of a grid cell, and their environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dmtl.bench.spec import Cell, Spec

TEST_FOLDER = "test"  # the test run's folder inside the cell's folder
CSV_LOGGER = "lightning.pytorch.loggers.CSVLogger"
TEACHER_CHECKPOINT = "checkpoints/last.ckpt"  # a teacher cell's checkpoint, in its folder


def dmtl_command() -> list[str]:
    """The CLI of this interpreter: ``python -m dmtl`` (the package this process imported)."""
    return [sys.executable, "-m", "dmtl"]


def fit_command(
    spec: Spec,
    cell: Cell,
    out: Path,
    extra: list[str] = (),
    threads: int | None = None,
    ckpt_path: Path | None = None,
) -> list[str]:
    """``dmtl fit`` of a cell in its run folder ``out/<setting>/<method>/seed<s>``.

    The configs are the spec's (base, method, setting, protocol), then its arguments, then the
    cell's: ``seed_everything`` and ``data.label_seed`` = the seed, a CSV logger whose
    ``save_dir/name/version`` is the cell's folder, no progress bar (the output goes to a log),
    with ``threads`` the data loaded in the training process; then ``extra`` (which wins). A method
    with a ``teacher`` gets the teacher cell's ``TEACHER_CHECKPOINT`` as its
    ``model.teacher.checkpoint``, before ``extra``.

    Args:
        ckpt_path: resume from this checkpoint.
    """
    folder = cell.folder(out)
    teacher = spec.teacher_cell(cell)
    if teacher is not None:
        checkpoint = teacher.folder(out) / TEACHER_CHECKPOINT
        extra = [f"--model.teacher.checkpoint={checkpoint}", *extra]
    return [
        *dmtl_command(),
        "fit",
        *_common(spec, cell, extra, threads, folder.parent.parent, cell.method, folder.name),
        *([f"--ckpt_path={ckpt_path}"] if ckpt_path is not None else []),
    ]


def evaluation_command(
    spec: Spec,
    cell: Cell,
    out: Path,
    ckpt_path: Path,
    extra: list[str] = (),
    threads: int | None = None,
) -> list[str]:
    """``dmtl test`` of a cell's checkpoint, in ``<cell folder>/test``, with the fit's options."""
    folder = cell.folder(out)
    return [
        *dmtl_command(),
        "test",
        *_common(spec, cell, extra, threads, folder.parent, folder.name, TEST_FOLDER),
        f"--ckpt_path={ckpt_path}",
    ]


def cell_environment(threads: int | None) -> dict[str, str]:
    """This process's environment, with ``threads`` CPU threads (OMP and MKL) when given."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def _common(
    spec: Spec,
    cell: Cell,
    extra: list[str],
    threads: int | None,
    save_dir: Path,
    name: str,
    version: str,
) -> list[str]:
    configs = [arg for config in spec.configs(cell) for arg in ("--config", config)]
    return [
        *configs,
        *spec.cell_args(cell),
        f"--seed_everything={cell.seed}",
        f"--data.label_seed={cell.seed}",
        f"--trainer.logger={CSV_LOGGER}",
        f"--trainer.logger.save_dir={save_dir}",
        f"--trainer.logger.name={name}",
        f"--trainer.logger.version={version}",
        f"--trainer.default_root_dir={save_dir / name / version}",
        "--trainer.enable_progress_bar=false",
        *(["--data.num_workers=0"] if threads else []),
        *extra,
    ]
