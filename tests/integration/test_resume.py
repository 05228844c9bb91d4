"""Resumption without loss: a run stopped by a signal or killed, then resumed (with
``--ckpt_path last``, or by itself when started again in its run folder), ends with the metrics of
an uninterrupted run (deterministic mode), with its earlier logs and config kept and ``last.ckpt``
linked to the newest checkpoint. The SLURM requeue path runs with the SLURM variables set, a
stand-in ``scontrol`` and the requeue signal sent to the whole process group."""

import csv
import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from dmtl.cli import main
from support import REPO, stops
from support.cli import _args
from support.hold import held_at, wait_for

pytestmark = pytest.mark.slow

EPOCHS, STEPS = 4, 4  # 4 steps an epoch on the tiny data
SIGNAL_AT_STEP = 6  # in the middle of the second epoch
# Runs in a subprocess are held at this step (``support.hold``) and stopped there: where they
# stop depends neither on the machine's speed nor on its load.
HOLD_AT_STEP = SIGNAL_AT_STEP
RESUMABLE = [
    f"--trainer.max_epochs={EPOCHS}",
    "--model.network.backbone=mobilenetv3_small_050",  # a 3 MB checkpoint instead of 135 MB
    "--seed_everything=0",
    "--trainer.deterministic=true",
    "--data.augment=false",  # the augmentation stream is not part of the checkpoint
    "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
    # save_last only copies a checkpoint that top-k saved, so top-k must save every epoch
    "--trainer.callbacks.save_top_k=1",
    "--trainer.callbacks.save_last=link",
]
WAIT_S = 300


class SendSignal(Callback):
    """Sends ``signum`` to this process after training step ``step`` (test helper)."""

    def __init__(self, signum: int, step: int) -> None:
        self.signum, self.step = signum, step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)  # handled at the next Python instruction


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("resume-cache")


@pytest.fixture(scope="module")
def uninterrupted(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    main(_args("fit", cache, out, *RESUMABLE))
    return json.loads((out / "run" / "fit" / "val_metrics.json").read_text())


def _resume_and_compare(cache, out, uninterrupted, *resume):
    main(_args("fit", cache, out, *RESUMABLE, *(resume or ["--ckpt_path=last"])))
    _compare(out, uninterrupted)


def _compare(out, uninterrupted):
    resumed = json.loads((out / "run" / "fit" / "val_metrics.json").read_text())
    for task, metrics in uninterrupted.items():
        for name, value in metrics.items():
            assert resumed[task][name] == pytest.approx(value, rel=1e-6, abs=1e-6), (task, name)
    final = torch.load(out / "run" / "fit" / "checkpoints" / "last.ckpt", weights_only=False)
    assert final["global_step"] == EPOCHS * STEPS
    # last.ckpt is the newest checkpoint, not the stop's file beside a last-v1.ckpt
    folder = out / "run" / "fit" / "checkpoints"
    assert sorted(p.name for p in folder.glob("last*")) == ["last.ckpt"]
    assert (folder / "last.ckpt").resolve().name == f"epoch={EPOCHS - 1}-step={EPOCHS * STEPS}.ckpt"


def _env(extra=None) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]),
        "OMP_NUM_THREADS": str(torch.get_num_threads()),  # the same kernels as this process
        **(extra or {}),
    }


def _start(cache, out, env=None, *extra):
    cmd = [sys.executable, "-m", "dmtl", *_args("fit", cache, out, *RESUMABLE, *extra)]
    return subprocess.Popen(
        cmd, env=_env(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip


def _held(out):
    """A run's arguments that hold it at ``HOLD_AT_STEP`` until ``_signal_group_when_held``."""
    return held_at(HOLD_AT_STEP, out / "held", out / "release")


def _signal_group_when_held(proc, out, signum):
    """Signal a run held by ``_held`` (after its first epoch's checkpoint), then let it go on."""
    try:
        wait_for(out / "held", proc, WAIT_S)
        os.killpg(proc.pid, signum)  # every process of the group: main and DataLoader workers
    finally:
        (out / "release").touch()  # the signal is pending or handled before the run reads this
    _, err = proc.communicate(timeout=WAIT_S)
    return proc.returncode, err.decode()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_stop_signal_writes_a_checkpoint_that_resumes_exactly(
    cache, tmp_path, capsys, uninterrupted, signum
):
    sender = [
        "--trainer.callbacks+=test_resume.SendSignal",
        f"--trainer.callbacks.signum={int(signum)}",
        f"--trainer.callbacks.step={SIGNAL_AT_STEP}",
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(_args("fit", cache, tmp_path, *RESUMABLE, *sender))
    assert exit_info.value.code == 128 + signum
    ckpt = tmp_path / "run" / "fit" / "checkpoints" / "last.ckpt"
    err = capsys.readouterr().err
    # the step signalled before finishes; its checkpoint is the one written on the way out
    assert f"dmtl: stopped by {signum.name} at epoch 1, step {SIGNAL_AT_STEP + 1}" in err
    assert f"resumable checkpoint {ckpt}" in err
    state = torch.load(ckpt, weights_only=False)
    assert state["global_step"] == SIGNAL_AT_STEP + 1 and not ckpt.is_symlink()
    assert state["dmtl_train_loader"] == {"epoch": 1, "batches": SIGNAL_AT_STEP + 1 - STEPS}
    _resume_and_compare(cache, tmp_path, uninterrupted)


def test_killed_run_resumes_from_the_last_epoch_checkpoint_exactly(cache, tmp_path, uninterrupted):
    last = tmp_path / "run" / "fit" / "checkpoints" / "last.ckpt"
    held = tmp_path / "held"
    extra = held_at(HOLD_AT_STEP, held)  # held in the second epoch until killed
    cmd = [sys.executable, "-m", "dmtl", *_args("fit", cache, tmp_path, *RESUMABLE, *extra)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(held, proc, WAIT_S)
    finally:
        proc.kill()  # SIGKILL: no handler runs, nothing is written on the way out
    assert proc.wait(timeout=WAIT_S) == -signal.SIGKILL
    killed_at = torch.load(last, weights_only=False)["global_step"]
    assert killed_at == STEPS  # the first epoch's checkpoint
    _resume_and_compare(cache, tmp_path, uninterrupted)


def test_signal_to_the_process_group_with_workers_then_a_plain_restart_resumes(
    cache, tmp_path, capsys, uninterrupted
):
    proc = _start(cache, tmp_path, None, "--data.num_workers=2", *_held(tmp_path))
    code, err = _signal_group_when_held(proc, tmp_path, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, err
    assert "dmtl: stopped by SIGTERM" in err and "killed by signal" not in err
    run = tmp_path / "run" / "fit"
    config = (run / "config.yaml").read_text()
    stopped_at = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
    main(_args("fit", cache, tmp_path, *RESUMABLE))  # no --ckpt_path: the same command again
    assert f"dmtl: resuming from {run / 'checkpoints'}" in capsys.readouterr().err
    _compare(tmp_path, uninterrupted)
    # the first start's log rows and config are kept; the restart's config is beside it
    steps = [int(row["step"]) for row in csv.DictReader((run / "metrics.csv").open())]
    assert min(steps) == 0 and max(steps) >= EPOCHS * STEPS - 1 and stopped_at >= STEPS
    assert (run / "config.yaml").read_text() == config and (run / "config.1.yaml").is_file()


def test_slurm_requeue_signal_to_the_job_step_checkpoints_requeues_and_resumes(
    cache, tmp_path, uninterrupted
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(0o755)
    slurm = {
        "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "dmtl", "SLURM_NTASKS": "1",
        "SLURM_NTASKS_PER_NODE": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }  # fmt: skip
    proc = _start(cache, tmp_path, slurm, "--data.num_workers=2", *_held(tmp_path))
    code, err = _signal_group_when_held(proc, tmp_path, signal.SIGUSR1)
    assert code == 128 + signal.SIGUSR1, err
    assert "dmtl: stopped by SIGUSR1" in err and "job 4242 requeued" in err
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    requeued = _start(cache, tmp_path, slurm)  # the requeued job: the same command, same folder
    _, err = requeued.communicate(timeout=WAIT_S)
    assert requeued.returncode == 0, err.decode()
    assert "dmtl: resuming from" in err.decode()
    _compare(tmp_path, uninterrupted)


@pytest.mark.parametrize("group", [True, False])
def test_sigterm_in_validation_with_workers_ends_within_seconds_and_resumes_exactly(
    cache, tmp_path, capsys, uninterrupted, group
):
    slow = ["--data.num_workers=2", "--trainer.callbacks+=support.stops.SlowValidation"]
    proc = stops.start(_args("fit", cache, tmp_path, *RESUMABLE, *slow), tmp_path / "marks")
    stops.wait_for(proc, tmp_path / "marks" / "val0_0")
    stops.kill(proc, signal.SIGTERM, group)
    code, err = stops.finish(proc)  # within stops.STOP_S, workers and all
    assert code == 128 + signal.SIGTERM, err
    assert "dmtl: stopped by SIGTERM at epoch 0, step 4; resumable checkpoint" in err
    main(_args("fit", cache, tmp_path, *RESUMABLE))  # the same command again
    assert "dmtl: resuming from" in capsys.readouterr().err
    _compare(tmp_path, uninterrupted)
