"""The teachers through the command line: the two-stage recipe (stage 1 fit, stage 2 fit with
``--model.teacher.checkpoint``), its one-line refusals, and a mean-teacher run resumed from a
checkpoint in the middle that continues the EMA exactly."""

import pytest
import torch

from dmtl.cli import main
from support.cli import _args

SMALL = ["--model.network.backbone=mobilenetv3_small_050", "--seed_everything=0"]


def _one_line(args, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("dmtl: error:")]
    assert len(lines) == 1
    return lines[0]


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    """A one-epoch stage-1 run: its checkpoint and the data cache."""
    out = tmp_path_factory.mktemp("stage1")
    main(_args("fit", out / "cache", out, "--trainer.max_epochs=1", *SMALL))
    return next((out / "run" / "fit" / "checkpoints").glob("*.ckpt")), out / "cache"


@pytest.mark.slow
def test_stage_two_trains_a_fresh_student_with_the_stage_one_teacher(stage1, tmp_path):
    ckpt, cache = stage1
    main(_args("fit", cache, tmp_path, "--trainer.max_epochs=1", *SMALL,
               f"--model.teacher.checkpoint={ckpt}", "--model.diffusion.space=none"))  # fmt: skip
    run = tmp_path / "run" / "fit"
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/loss/teacher", "train/loss/teacher/pseudo/semseg"} <= set(header)
    saved = torch.load(next((run / "checkpoints").glob("*.ckpt")), weights_only=True)
    assert saved["hyper_parameters"]["teacher"]["checkpoint"] == str(ckpt)
    assert not any("teacher" in key for key in saved["state_dict"])  # reloaded from the path
    # the student was a fresh model of another method (MTL) than its teacher (DiffusionMTL)
    assert not any(key.startswith("net.mtd") for key in saved["state_dict"])


def test_a_missing_teacher_stops_the_fit_in_one_line(tmp_path, capsys):
    gone = tmp_path / "gone.ckpt"
    args = _args("fit", tmp_path / "cache", tmp_path, "--trainer.max_epochs=1", *SMALL,
                 f"--model.teacher.checkpoint={gone}")  # fmt: skip
    line = _one_line(args, capsys)
    assert "model.teacher.checkpoint=" in line and "does not exist" in line


@pytest.mark.slow
def test_a_teacher_of_other_tasks_stops_the_fit_in_one_line(stage1, tmp_path, capsys):
    ckpt, cache = stage1
    line = _one_line(_args("fit", cache, tmp_path, "--trainer.max_epochs=1", *SMALL,
                           "--data.tasks=[semseg,depth]",
                           f"--model.teacher.checkpoint={ckpt}"), capsys)  # fmt: skip
    assert "differ from the student's" in line


RESUMABLE = [
    *SMALL,
    "--trainer.max_epochs=2",
    "--trainer.deterministic=true",
    "--data.augment=false",
    "--model.mean_teacher.enabled=true",
    "--model.diffusion.space=none",
    "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
    "--trainer.callbacks.save_top_k=-1",
]


@pytest.mark.slow
def test_a_resumed_mean_teacher_run_continues_the_ema_exactly(tmp_path):
    cache = tmp_path / "cache"
    main(_args("fit", cache, tmp_path / "whole", *RESUMABLE))
    folder = tmp_path / "whole" / "run" / "fit" / "checkpoints"
    first = next(folder.glob("epoch=0-*.ckpt"))
    main(_args("fit", cache, tmp_path / "resumed", *RESUMABLE, f"--ckpt_path={first}"))
    whole = torch.load(next(folder.glob("epoch=1-*.ckpt")), weights_only=True)["state_dict"]
    again = tmp_path / "resumed" / "run" / "fit" / "checkpoints"
    resumed = torch.load(next(again.glob("epoch=1-*.ckpt")), weights_only=True)["state_dict"]
    ema = [k for k in whole if k.startswith("terms.mean_teacher.")]
    assert int(whole["terms.mean_teacher.updates"]) == 8  # 4 steps an epoch
    start = torch.load(first, weights_only=True)["state_dict"]
    assert int(start["terms.mean_teacher.updates"]) == 4
    assert any(not torch.equal(start[k], whole[k]) for k in ema)  # it moved in epoch 2
    for key in ema:
        assert torch.allclose(resumed[key].float(), whole[key].float(), rtol=1e-5, atol=1e-6), key
