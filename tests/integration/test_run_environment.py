"""Failures of the machine end with one line naming the path or value, and lose nothing written:
a full disk during a checkpoint write, a read-only run folder, ill-formed W&B names, an image over
Pillow's decompression-bomb limit in ``predict``. The faults are injected where a test cannot make
them for real (a full disk, a read-only mount as root)."""

import errno
import os

import numpy as np
import pytest
import torch
from PIL import Image

from dmtl.callbacks.atomic_io import TEMP_PREFIX
from dmtl.cli import main
from dmtl.run_lock import LOCK_NAME
from support.cli import _args


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("environment-cache")


def _one_line(capsys, args) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_a_full_disk_during_a_checkpoint_write_is_one_line_and_keeps_the_last_one(
    cache, tmp_path, capsys, monkeypatch
):
    real_save, calls = torch.save, []

    def fills_the_disk(obj, handle, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second checkpoint: part of it, then the disk is full
            handle.write(b"\0" * 4096)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fills_the_disk)
    line = _one_line(capsys, _args("fit", cache, tmp_path, "--trainer.max_epochs=2"))
    folder = tmp_path / "run" / "fit" / "checkpoints"
    target = folder / "epoch=1-step=8.ckpt"
    assert line.startswith(f"dmtl: error: No space left on device writing {target}; free space")
    monkeypatch.undo()
    assert sorted(p.name for p in folder.iterdir()) == ["epoch=0-step=4.ckpt"]  # no temp file
    assert torch.load(folder / "epoch=0-step=4.ckpt", weights_only=True)["global_step"] == 4
    assert not list(folder.glob(f"{TEMP_PREFIX}*"))


def test_a_read_only_run_folder_is_one_line_naming_it(cache, tmp_path, capsys, monkeypatch):
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / "run")) and args and args[0] & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    line = _one_line(capsys, _args("fit", cache, tmp_path, "--trainer.max_epochs=1"))
    lock = tmp_path / "run" / "fit" / LOCK_NAME
    assert line == f"dmtl: error: cannot create the lock file {lock}: Read-only file system"


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        ("project=bad/project:name?", "project='bad/project:name?' holds characters"),
        ("entity=no such/entity", "entity='no such/entity' holds characters"),
        ("project=", "project is empty"),
    ],
)
def test_ill_formed_wandb_names_are_one_line_before_anything_is_written(
    cache, tmp_path, capsys, option, needle
):
    wandb = [
        "--trainer.logger=lightning.pytorch.loggers.WandbLogger",
        f"--trainer.logger.save_dir={tmp_path / 'wandb'}",
        "--trainer.logger.project=dmtl",
        f"--trainer.logger.{option}",
    ]
    line = _one_line(capsys, _args("fit", cache, tmp_path, "--trainer.max_epochs=1", *wandb))
    assert line.startswith("dmtl: error: --trainer.logger.init_args.") and needle in line
    assert not (tmp_path / "wandb").exists()


def test_an_image_over_the_decompression_bomb_limit_is_one_line(
    cache, tmp_path, capsys, monkeypatch
):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 pixels: over twice the limit
    args = _args("predict", cache, tmp_path, f"--data.predict_dir={folder}")
    line = _one_line(capsys, args)
    assert line == (
        f"dmtl: error: image {folder / 'huge.png'} is larger than 1000 pixels, Pillow's guard "
        "against decompression bombs; resize it (or split it into tiles) to predict it"
    )
