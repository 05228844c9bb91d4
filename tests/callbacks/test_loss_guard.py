"""Failure handling in training: non-finite losses (callbacks.loss_guard) and out of GPU memory."""

import dataclasses

import pytest
import torch

from dmtl.cli import main
from dmtl.losses.masked import MultiTaskLoss
from dmtl.module import DiffusionMTLModule
from support.cli import _args


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("guard-cache")


def _poison_depth(monkeypatch, at_calls):
    """Make the depth loss NaN in the given (0-based) training loss calls."""
    forward = MultiTaskLoss.forward
    calls = []

    def poisoned(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        calls.append(1)
        if len(calls) - 1 in at_calls:
            per_task = dict(out.per_task, depth=out.per_task["depth"] * float("nan"))
            out = dataclasses.replace(out, total=out.total + per_task["depth"], per_task=per_task)
        return out

    monkeypatch.setattr(MultiTaskLoss, "forward", poisoned)


def test_non_finite_loss_stops_naming_step_task_and_samples(cache, tmp_path, capsys, monkeypatch):
    _poison_depth(monkeypatch, at_calls={2})
    with pytest.raises(SystemExit) as exit_info:
        main(_args("fit", cache, tmp_path, "--trainer.max_epochs=1"))
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("dmtl: error: non-finite training loss nan at step 2 (epoch 0)")
    assert "tasks with a non-finite loss: depth;" in line
    names = line.split("batch samples: ")[1].split(";")[0].split(", ")
    assert len(names) == 4 and all(n.startswith("train/") for n in names)
    assert "--loss_guard.action=skip" in line


def test_skip_leaves_weights_and_optimiser_state_of_that_step_alone(cache, tmp_path, monkeypatch):
    _poison_depth(monkeypatch, at_calls={1})
    with pytest.warns(UserWarning, match=r"at step 1 .*depth.*step skipped"):
        cli = main(
            _args("fit", cache, tmp_path, "--trainer.max_epochs=1", "--loss_guard.action=skip")
        )
    guard = next(cb for cb in cli.trainer.callbacks if type(cb).__name__ == "NonFiniteLossGuard")
    assert guard.skipped == 1
    params = list(cli.model.parameters())
    assert all(torch.isfinite(p).all() for p in params)
    # 4 batches, one skipped: Adam stepped each parameter 3 times
    state = cli.trainer.optimizers[0].state
    assert {int(state[p]["step"]) for p in params if p in state} == {3}


def test_out_of_memory_ends_with_a_hint(cache, tmp_path, capsys, monkeypatch):
    def oom(self, batch, batch_idx):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(DiffusionMTLModule, "training_step", oom)
    with pytest.raises(SystemExit) as exit_info:
        main(_args("fit", cache, tmp_path, "--trainer.max_epochs=1"))
    assert exit_info.value.code == 3
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("dmtl: error: out of GPU memory (CUDA out of memory. Tried to allocate")
    assert "--data.batch_size" in line and "--trainer.precision=bf16-mixed" in line
