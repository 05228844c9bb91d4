"""A resume checks what it loads and what it is given: a checkpoint that does not load is passed
over for the newest one that does (one line each), none loading is one line, and an option that
the checkpoint would silently overrule (optimiser, data order) is refused with one line."""

import shutil

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from dmtl.cli import main
from dmtl.errors import ConfigError
from support.cli import _args

BASE = [
    "--model.network.backbone=mobilenetv3_small_050",
    "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
    "--trainer.callbacks.save_top_k=1",
    "--trainer.callbacks.save_last=link",
    "--trainer.num_sanity_val_steps=0",
    "--trainer.limit_val_batches=1",
]
DONE = "epoch=1-step=8.ckpt"


class FailBeforeTraining(Callback):
    """Fails after the run's config and hyper-parameters were written, before any step."""

    def on_fit_start(self, trainer, pl_module) -> None:
        raise ConfigError("a failure before training")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("resume-checks-cache")


@pytest.fixture(scope="module")
def finished(cache, tmp_path_factory):
    """A run folder of a finished 2-epoch run: ``epoch=1-step=8.ckpt`` and ``last.ckpt`` to it."""
    out = tmp_path_factory.mktemp("finished")
    main(_args("fit", cache, out, *BASE, "--trainer.max_epochs=2"))
    return out


@pytest.fixture
def run(finished, tmp_path):
    shutil.copytree(finished, tmp_path, symlinks=True, dirs_exist_ok=True)
    return tmp_path / "run" / "fit" / "checkpoints"


def _fit(cache, out, *extra):
    return main(_args("fit", cache, out, *BASE, *extra))


def _one_line_exit(capsys, cache, out, *extra) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        _fit(cache, out, *extra)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def _truncate_last(folder):
    last = folder / "last.ckpt"
    data = (folder / DONE).read_bytes()
    last.unlink()
    last.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("how", [[], ["--ckpt_path=last"]])
def test_a_truncated_last_checkpoint_is_skipped_for_the_intact_one(
    cache, tmp_path, run, capsys, how
):
    _truncate_last(run)
    _fit(cache, tmp_path, "--trainer.max_epochs=3", *how)
    err = capsys.readouterr().err
    skipped = f"dmtl: skipping {run / 'last.ckpt'}: cannot read it: the file is truncated"
    assert skipped in err
    assert f"dmtl: resuming from {run / DONE}" in err
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 12


def test_ckpt_path_last_passes_over_a_dangling_link(cache, tmp_path, run, capsys):
    (run / "last.ckpt").unlink()
    (run / "last.ckpt").symlink_to("epoch=2-step=12.ckpt")  # killed between the two steps
    _fit(cache, tmp_path, "--trainer.max_epochs=3", "--ckpt_path=last")
    err = capsys.readouterr().err
    assert f"skipping {run / 'last.ckpt'}: a link to epoch=2-step=12.ckpt, which does not" in err
    assert f"dmtl: resuming from {run / DONE}" in err
    assert torch.load(run / "last.ckpt", weights_only=True)["global_step"] == 12


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        ("--model.network.embed_dim=32", "network.embed_dim=16 (config: 32)"),
        ("--data.tasks=[semseg,depth]", "was trained on [semseg, depth, normals]"),
    ],
)
def test_a_restart_with_another_network_or_task_set_is_one_line(
    cache, tmp_path, run, capsys, option, needle
):
    line = _one_line_exit(capsys, cache, tmp_path, "--trainer.max_epochs=3", option)
    assert line.startswith(f"dmtl: error: no checkpoint in {run} can be resumed from (")
    assert needle in line and DONE in line


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        ("--model.optim.lr=1000000.0", "--model.optim.lr=1000000.0 (the checkpoint's: 0.001)"),
        ("--data.batch_size=8", "--data.batch_size=8 (the checkpoint's: 4)"),
    ],
)
def test_a_resume_refuses_options_the_checkpoint_would_overrule(
    cache, tmp_path, run, capsys, option, needle
):
    new_folder = [f"--ckpt_path={run / DONE}", "--trainer.logger.version=null"]
    for how in ([], [f"--ckpt_path={run / DONE}"], new_folder):
        line = _one_line_exit(capsys, cache, tmp_path, "--trainer.max_epochs=3", option, *how)
        assert line.startswith(f"dmtl: error: a resumed fit continues checkpoint {run / DONE}")
        assert needle in line
    assert sorted(p.name for p in run.parent.glob("config*.yaml")) == ["config.yaml"]
    assert not list(run.parent.parent.glob("version_*"))  # the refused start's folder is gone


def test_a_resume_applies_a_new_max_epochs_and_loss_weights_and_removes_partial_files(
    cache, tmp_path, run, capsys
):
    partial = run / ".dmtl-partial-abc.tmp"  # left by a kill during a checkpoint write
    partial.write_bytes(b"\0" * 1024)
    _fit(cache, tmp_path, "--trainer.max_epochs=3", "--model.loss.weights={depth: 2.0}")
    final = torch.load(run / "last.ckpt", weights_only=True)
    assert final["global_step"] == 12
    assert final["hyper_parameters"]["loss"]["weights"] == {"depth": 2.0}
    assert not partial.exists()


def test_ckpt_path_last_without_checkpoints_says_it_starts_from_scratch(cache, tmp_path, capsys):
    _fit(cache, tmp_path, "--trainer.max_epochs=1", "--ckpt_path=last")
    folder = tmp_path / "run" / "fit" / "checkpoints"
    assert f"dmtl: --ckpt_path last: no checkpoint in {folder}; starting from scratch" in (
        capsys.readouterr().err
    )


def test_a_start_that_fails_before_training_leaves_no_config_or_folder(
    cache, tmp_path, run, capsys
):
    failing = [
        "--trainer.max_epochs=3",
        "--trainer.callbacks+=test_resume_checks.FailBeforeTraining",
    ]
    before = sorted(p.name for p in run.parent.iterdir())
    assert (
        _one_line_exit(capsys, cache, tmp_path, *failing)
        == "dmtl: error: a failure before training"
    )
    assert sorted(p.name for p in run.parent.iterdir()) == before  # no config.1.yaml
    new = _one_line_exit(capsys, cache, tmp_path, *failing, "--trainer.logger.version=null")
    assert new == "dmtl: error: a failure before training"
    assert not list(run.parent.parent.glob("version_*"))
