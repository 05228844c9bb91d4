"""A bench method whose offline teacher is another method's cell of the same setting and seed."""

import threading
import time

import pytest

from dmtl.bench import runner
from dmtl.bench.cell import CellFailed, run_cell
from dmtl.bench.commands import evaluation_command, fit_command
from dmtl.bench.spec import Cell, load_spec
from dmtl.errors import ConfigError

GRID = """
base: [base.yaml]
seeds: [0, 1]
methods:
  mtl: [a.yaml]
  student: {configs: [a.yaml], teacher: mtl}
settings:
  onelabel: [a.yaml]
"""


def _spec(tmp_path, text=GRID):
    (tmp_path / "base.yaml").write_text("seed_everything: 0\n")
    (tmp_path / "a.yaml").write_text("model: {}\n")
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return load_spec(path)


def test_the_students_fit_reads_its_teacher_cells_last_checkpoint(tmp_path):
    spec = _spec(tmp_path)
    out = tmp_path / "grid"
    student = Cell("onelabel", "student", 1)
    assert spec.teacher_cell(student) == Cell("onelabel", "mtl", 1)
    assert spec.teacher_cell(Cell("onelabel", "mtl", 1)) is None
    command = fit_command(spec, student, out, ["--trainer.max_epochs=1"])
    flag = f"--model.teacher.checkpoint={out / 'onelabel' / 'mtl' / 'seed1' / 'checkpoints'}"
    assert command.index(f"{flag}/last.ckpt") < command.index("--trainer.max_epochs=1")
    test = evaluation_command(spec, student, out, tmp_path / "x.ckpt")
    assert not any(a.startswith("--model.teacher") for a in test)  # the test needs no teacher
    assert [c.method for c in spec.cells(seeds=[0])] == ["mtl", "student"]  # teacher first


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (GRID.replace("teacher: mtl", "teacher: nope"), "must name a method defined before it"),
        (
            GRID.replace(
                "  mtl: [a.yaml]\n  student: {configs: [a.yaml], teacher: mtl}",
                "  student: {configs: [a.yaml], teacher: mtl}\n  mtl: [a.yaml]",
            ),
            "must name a method defined before it",
        ),  # fmt: skip
        (
            GRID.replace("onelabel: [a.yaml]", "onelabel: {configs: [a.yaml], methods: [student]}"),
            "setting onelabel runs student but not its teacher mtl",
        ),
    ],
)
def test_a_teacher_that_cannot_run_first_is_refused(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        _spec(tmp_path, text)


def test_a_student_whose_teacher_has_not_fitted_fails_before_it_starts(tmp_path):
    spec = _spec(tmp_path)
    with pytest.raises(CellFailed, match="teacher cell onelabel/mtl/seed0 has not finished"):
        run_cell(spec, Cell("onelabel", "student", 0), tmp_path / "grid")
    assert not (tmp_path / "grid" / "onelabel" / "student" / "seed0" / "fit.log").exists()


def test_with_parallel_jobs_a_student_waits_for_its_teacher(tmp_path, monkeypatch):
    spec = _spec(tmp_path)
    events, lock = [], threading.Lock()

    def fake_run_cell(spec, cell, out, extra, threads):
        with lock:
            events.append(("start", cell.method, cell.seed))
        time.sleep(0.2 if cell.method == "mtl" else 0.0)
        with lock:
            events.append(("end", cell.method, cell.seed))

    monkeypatch.setattr(runner, "run_cell", fake_run_cell)
    failures = runner.run_grid(spec, spec.cells(), tmp_path / "grid", jobs=4, report=lambda s: None)
    assert failures == []
    for seed in (0, 1):
        assert events.index(("end", "mtl", seed)) < events.index(("start", "student", seed))
