"""dmtl.bench.commands and dmtl.bench.cell: a cell's commands, folders and resume rules."""

import fcntl
import os
from pathlib import Path

import pytest

from dmtl.bench.cell import (
    CELL_FILE,
    FIT_FILE,
    LOCK_FILE,
    CellBusy,
    CellFailed,
    final_checkpoint,
    plan,
    run_cell,
)
from dmtl.bench.commands import cell_environment, evaluation_command, fit_command
from dmtl.bench.spec import Cell, load_spec
from support import REPO

SPEC = REPO / "experiments" / "synthetic" / "bench" / "regime.yaml"
CELL = Cell("onelabel", "feature", 2)


def _value(command, key):
    return next(arg.split("=", 1)[1] for arg in command if arg.startswith(f"--{key}="))


def test_fit_runs_in_the_cell_folder_with_its_seed(tmp_path):
    spec = load_spec(SPEC)
    command = fit_command(spec, CELL, tmp_path, ["--trainer.max_steps=3"], threads=1)
    assert command[1:4] == ["-m", "dmtl", "fit"]
    logger = [_value(command, f"trainer.logger.{k}") for k in ("save_dir", "name", "version")]
    assert Path(*logger) == CELL.folder(tmp_path) == tmp_path / "onelabel" / "feature" / "seed2"
    assert _value(command, "seed_everything") == _value(command, "data.label_seed") == "2"
    assert _value(command, "data.num_workers") == "0"  # --threads: the data in the process
    assert command[-1] == "--trainer.max_steps=3"  # the command line's extra arguments win
    configs = [command[i + 1] for i, arg in enumerate(command) if arg == "--config"]
    assert configs == spec.configs(CELL)
    resumed = fit_command(spec, CELL, tmp_path, ckpt_path=tmp_path / "last.ckpt")
    assert resumed[-1] == f"--ckpt_path={tmp_path / 'last.ckpt'}"
    assert "--data.num_workers=0" not in resumed  # without --threads the config's loader


def test_test_runs_in_the_cell_folder_test_with_the_fit_options(tmp_path):
    spec = load_spec(SPEC)
    ckpt = CELL.folder(tmp_path) / "checkpoints" / "last.ckpt"
    command = evaluation_command(spec, CELL, tmp_path, ckpt, ["--x=1"])
    assert command[3] == "test" and command[-1] == f"--ckpt_path={ckpt}"
    logger = [_value(command, f"trainer.logger.{k}") for k in ("save_dir", "name", "version")]
    assert Path(*logger) == CELL.folder(tmp_path) / "test"
    fit = fit_command(spec, CELL, tmp_path, ["--x=1"])
    differing = set(command[4:-1]) ^ set(fit[4:])
    assert all(
        arg.split("=")[0].startswith(("--trainer.logger", "--trainer.default")) for arg in differing
    )


def test_threads_set_the_thread_variables(monkeypatch):
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    env = cell_environment(3)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert cell_environment(None).get("MKL_NUM_THREADS") is None


def test_plan_follows_the_files_of_the_cell(tmp_path):
    folder = CELL.folder(tmp_path)
    assert plan(CELL, tmp_path) == "start"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "epoch=0-step=5.ckpt").write_bytes(b"x")
    os.symlink("epoch=9-step=5.ckpt", folder / "checkpoints" / "last.ckpt")  # dangling
    assert plan(CELL, tmp_path) == "start"
    (folder / "checkpoints" / "last.ckpt").unlink()
    os.symlink("epoch=0-step=5.ckpt", folder / "checkpoints" / "last.ckpt")
    assert plan(CELL, tmp_path) == "resume"
    (folder / FIT_FILE).write_text("{}")
    assert plan(CELL, tmp_path) == "test"
    (folder / CELL_FILE).write_text("{}")
    assert plan(CELL, tmp_path) == "finished"


def test_the_test_scores_last_ckpt_else_the_newest(tmp_path):
    folder = tmp_path / "run"
    with pytest.raises(CellFailed, match="no checkpoint"):
        final_checkpoint(folder)
    (folder / "checkpoints").mkdir(parents=True)
    old, new = folder / "checkpoints" / "epoch=0.ckpt", folder / "checkpoints" / "epoch=1.ckpt"
    old.write_bytes(b"0")
    new.write_bytes(b"1")
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    os.symlink("epoch=9.ckpt", folder / "checkpoints" / "last.ckpt")  # dangling: passed over
    assert final_checkpoint(folder) == new
    (folder / "checkpoints" / "last.ckpt").unlink()
    os.symlink(old.name, folder / "checkpoints" / "last.ckpt")
    assert final_checkpoint(folder) == folder / "checkpoints" / "last.ckpt"


def test_a_cell_that_another_process_runs_is_passed_over(tmp_path):
    spec = load_spec(SPEC)
    folder = CELL.folder(tmp_path)
    folder.mkdir(parents=True)
    with (folder / LOCK_FILE).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running bench holds it
        with pytest.raises(CellBusy, match="another process"):
            run_cell(spec, CELL, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [LOCK_FILE]  # nothing run or written
    (folder / CELL_FILE).write_text("{}")
    assert run_cell(spec, CELL, tmp_path) is None  # finished: never run again
