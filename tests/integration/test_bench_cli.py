"""``dmtl bench`` end to end: a tiny grid killed mid-way finishes without redoing cells, its
paired numbers match a hand computation from the cells, a stop signal to the grid stops its
running cell resumably, and the SLURM path submits its cells."""

import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time

import pytest

from dmtl.bench.cell import CELL_FILE, plan, resume_checkpoint
from dmtl.bench.spec import Cell
from dmtl.cli import main
from support import REPO
from support.cli import TINY_DATA
from support.hold import held_at, wait_for

SYNTHETIC = REPO / "experiments" / "synthetic"
REFERENCE = {"semseg": {"miou": 40.0}, "depth": {"abs_err": 0.5}, "normals": {"mean": 20.0}}
CELLS = [Cell("onelabel", m, s) for s in (0, 1) for m in ("mtl", "feature")]


def _spec(tmp_path):
    """2 methods x 2 seeds of tiny synthetic scenes, Δm against a reference file."""
    args = [a for a in TINY_DATA if "num_train" not in a and "num_val" not in a]
    args += [
        f"--data.root={tmp_path / 'data'}",
        "--data.synthetic.num_train=8",  # 2 steps an epoch
        "--data.synthetic.num_val=4",
        "--trainer.max_epochs=3",
    ]
    (tmp_path / "reference.yaml").write_text(json.dumps(REFERENCE))
    spec = {
        "base": [str(SYNTHETIC / "default.yaml")],
        "args": args,
        "seeds": [0, 1],
        "methods": {m: [str(SYNTHETIC / "method" / f"{m}.yaml")] for m in ("mtl", "feature")},
        "settings": {"onelabel": [str(SYNTHETIC / "setting" / "onelabel.yaml")]},
        "reference": "reference.yaml",
        "baselines": {"feature": ["mtl"]},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def _bench(*args):
    return [sys.executable, "-m", "dmtl", "bench", *map(str, args)]


def _delta_m(metrics):
    """Δm by hand: mean of +(M - R) / R x 100 for mIoU, - for the errors."""
    terms = [
        (metrics["semseg"]["miou"] - 40.0) / 40.0 * 100,
        -(metrics["depth"]["abs_err"] - 0.5) / 0.5 * 100,
        -(metrics["normals"]["mean"] - 20.0) / 20.0 * 100,
    ]
    return sum(terms) / 3


@pytest.mark.slow
def test_killed_grid_resumes_without_redoing_cells_and_reports_paired_numbers(tmp_path):
    spec, out = _spec(tmp_path), tmp_path / "grid"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    command = _bench("run", spec, "--out", out, "--threads", "1")
    first, second = CELLS[0].folder(out), CELLS[1].folder(out)
    with (tmp_path / "killed.log").open("w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 900
        # kill the grid (bench and its dmtl fit) once the first cell is finished and the second
        # has its first epoch's checkpoint: three epochs, two still to train
        while not ((first / CELL_FILE).exists() and resume_checkpoint(second)):
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert plan(CELLS[1], out) == "resume"
    assert [plan(c, out) for c in CELLS[2:]] == ["start", "start"]
    finished = (first / CELL_FILE).read_text(), (first / CELL_FILE).stat().st_mtime_ns

    subprocess.run(command, env=env, check=True, capture_output=True)
    assert ((first / CELL_FILE).read_text(), (first / CELL_FILE).stat().st_mtime_ns) == finished
    records = [json.loads((c.folder(out) / CELL_FILE).read_text()) for c in CELLS]
    stages = [[cmd[3] for cmd in r["commands"]] for r in records]
    assert stages == [["fit", "test"], ["fit", "fit", "test"], ["fit", "test"], ["fit", "test"]]
    resumed = records[1]["commands"][1]
    assert resumed[-1] == f"--ckpt_path={second / 'checkpoints' / 'last.ckpt'}"
    assert records[1]["commands"][0] == resumed[:-1]  # the same fit, from its checkpoint
    for record in records:  # the last epoch's checkpoint is the one tested
        assert record["checkpoint"].startswith("checkpoints/epoch=2-")
        assert record["commands"][-1][-1].endswith("checkpoints/last.ckpt")
        assert record["commit"] and record["host"] and record["wall_s"]["fit"] > 0

    main(["bench", "report", str(out)])  # the spec that run recorded in the grid's folder
    report = (out / "report.md").read_text()
    deltas = {(r["method"], r["seed"]): _delta_m(r["test"]) for r in records}
    differences = [deltas[("feature", s)] - deltas[("mtl", s)] for s in (0, 1)]
    signs = " ".join("+" if d > 0 else "−" for d in differences)
    expected = f"{statistics.fmean(differences):.2f} ± {statistics.stdev(differences):.2f}"
    assert f"| feature | mtl | 0,1 | {expected} | {signs} |" in report
    mtl = [deltas[("mtl", s)] for s in (0, 1)]
    row = next(line for line in report.splitlines() if line.startswith("| mtl | 0,1 |"))
    assert f"| {statistics.fmean(mtl):.2f} ± {statistics.stdev(mtl):.2f} |" in row
    assert (out / "plots" / "paired_onelabel.png").stat().st_size > 10_000
    assert (out / "plots" / "curves_onelabel.png").stat().st_size > 10_000


def test_slurm_array_runs_each_unfinished_cell_as_a_task(tmp_path, monkeypatch, capsys):
    spec, out = _spec(tmp_path), tmp_path / "grid"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"  # a stand-in: records its arguments, answers as sbatch does
    sbatch.write_text(
        f'#!/bin/sh\necho "$@" >> {tmp_path / "sbatch.log"}\necho "Submitted batch job 77"\n'
    )
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    args = ["bench", "slurm", str(spec), "--out", str(out), "--threads", "1"]
    main([*args, "--sbatch=--time=1:00:00", "--", "--trainer.max_epochs=1"])
    script = out / "slurm" / "bench.sbatch"
    assert (tmp_path / "sbatch.log").read_text().split() == [str(script)]
    assert "Submitted batch job 77" in capsys.readouterr().err
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "#SBATCH --array=0-3" in text and "#SBATCH --time=1:00:00" in text
    assert "#SBATCH --cpus-per-task=1" in text
    assert f"#SBATCH --output={out.resolve()}/slurm/%A_%a.out" in text
    run = shlex.split(text.strip().splitlines()[-1])
    assert run[1:5] == ["-m", "dmtl", "bench", "run"] and run[5] == str(spec.resolve())
    assert f"--out={out.resolve()}" in run and "--threads=1" in run
    assert run[-4:] == ["--cell", "${SLURM_ARRAY_TASK_ID}", "--", "--trainer.max_epochs=1"]

    # task i runs the i-th cell of the selection, as a local run would
    for index, cell in enumerate(CELLS):
        main(["bench", "run", str(spec), "--out", str(out), "--cell", str(index), "--dry-run"])
        assert capsys.readouterr().out.startswith(f"{cell.name}: start\n")
    # finished cells get no task; nothing left: nothing submitted, one line
    for cell in (CELLS[0], CELLS[2]):
        cell.folder(out).mkdir(parents=True)
        (cell.folder(out) / CELL_FILE).write_text("{}")
    main([*args, "--dry-run"])
    assert "#SBATCH --array=1,3\n" in capsys.readouterr().out
    for cell in CELLS:
        cell.folder(out).mkdir(parents=True, exist_ok=True)
        (cell.folder(out) / CELL_FILE).write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "nothing to submit" in capsys.readouterr().err


@pytest.mark.slow
def test_a_stop_signal_to_the_grid_stops_its_running_cell_resumably_and_starts_no_other(tmp_path):
    """SIGTERM to ``dmtl bench`` alone (not its process group): the running fit gets it too,
    writes its checkpoint and exits, no cell starts after it, nothing is left running, and the
    same command then resumes the cell from that checkpoint."""
    spec, out = _spec(tmp_path), tmp_path / "grid"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]),
        "OMP_NUM_THREADS": "1",
    }
    held, release = tmp_path / "held", tmp_path / "release"
    hold = held_at(3, held, release)  # step 3: in the second epoch, after its first checkpoint
    command = _bench("run", spec, "--out", out, "--threads", "1", "--", *hold)
    first = CELLS[0].folder(out)
    with (tmp_path / "stopped.log").open("w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            wait_for(held, proc, 900, tmp_path / "stopped.log")
            os.kill(proc.pid, signal.SIGTERM)  # the bench process only
        finally:
            release.touch()
        assert proc.wait(timeout=900) == 128 + signal.SIGTERM
    err = (tmp_path / "stopped.log").read_text()
    assert "onelabel/mtl/seed0: stopped by SIGTERM with a resumable checkpoint" in err
    assert "dmtl bench: stopped by SIGTERM" in err and "1 cells stopped, 0 failed" in err
    assert "onelabel/feature/seed0" not in err  # not started, not announced
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no fit left running in the grid's session
    assert "dmtl: stopped by SIGTERM" in (first / "fit.log").read_text()
    assert plan(CELLS[0], out) == "resume"
    assert [plan(c, out) for c in CELLS[1:]] == ["start"] * 3  # none started after the signal

    subprocess.run([*command[:-len(hold) - 1], "--methods", "mtl", "--seeds", "0", "--", *hold],
                   env=env, check=True, capture_output=True)  # fmt: skip
    record = json.loads((first / CELL_FILE).read_text())
    assert [cmd[3] for cmd in record["commands"]] == ["fit", "fit", "test"]
    assert record["commands"][1][-1] == f"--ckpt_path={first / 'checkpoints' / 'last.ckpt'}"
    assert record["checkpoint"].startswith("checkpoints/epoch=2-")
