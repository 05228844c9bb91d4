"""Failure handling in training: non-finite losses (callbacks.loss_guard) and out of GPU memory."""

import pytest
import torch

from dmtl.cli import main
from dmtl.module import DiffusionMTLModule
from support.cli import _args
from support.poison import poison_depth


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("guard-cache")


def test_non_finite_loss_stops_naming_step_task_and_samples(cache, tmp_path, capsys, monkeypatch):
    poison_depth(monkeypatch, at_calls={2})
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
    poison_depth(monkeypatch, at_calls={1})
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


def test_non_finite_weights_after_a_finite_loss_stop_before_any_checkpoint_of_them(
    cache, tmp_path, capsys, monkeypatch
):
    step = DiffusionMTLModule.optimizer_step
    calls = []

    def poisoned(self, *args, **kwargs):
        step(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 6:  # in the second epoch (4 steps an epoch)
            with torch.no_grad():
                next(self.parameters()).fill_(float("inf"))

    monkeypatch.setattr(DiffusionMTLModule, "optimizer_step", poisoned)
    extra = [
        "--trainer.max_epochs=2",
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
        "--trainer.callbacks.save_top_k=1",
        "--trainer.callbacks.save_last=link",
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(_args("fit", cache, tmp_path, *extra))
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("dmtl: error: non-finite weights after the optimiser step at step 6")
    # the first epoch's checkpoint is still the newest one, whole and finite
    folder = tmp_path / "run" / "fit" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["epoch=0-step=4.ckpt", "last.ckpt"]
    state = torch.load(folder / "last.ckpt", weights_only=False)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_non_finite_gradients_of_a_finite_loss_stop_or_skip(cache, tmp_path, capsys, monkeypatch):
    def poison(self):
        if self.global_step == 1:
            next(p for p in self.parameters() if p.grad is not None).grad.fill_(float("nan"))

    monkeypatch.setattr(DiffusionMTLModule, "on_after_backward", poison, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(_args("fit", cache, tmp_path / "stop", "--trainer.max_epochs=1"))
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("dmtl: error: non-finite gradients at step 1 (epoch 0)")
    with pytest.warns(UserWarning, match=r"non-finite gradients at step 1 .*step skipped"):
        cli = main(
            _args(
                "fit", cache, tmp_path / "skip", "--trainer.max_epochs=1",
                "--loss_guard.action=skip",
            )
        )  # fmt: skip
    assert all(torch.isfinite(p).all() for p in cli.model.parameters())
