"""Battery: every bad ``--ckpt_path`` ends with one line that names the file, before any step."""

from __future__ import annotations

import io
import os

import lightning
import pytest
import torch

from dmtl.config import NetworkConfig
from dmtl.module import DiffusionMTLModule
from support.battery import fails_with_one_line
from support.cli import _args


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("battery-ckpt-cache")


class Payload:
    """Pickled code: unpickling it would create the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _checkpoint_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.ones(4096)}, "hyper_parameters": {}}, buffer)
    return buffer.getvalue()


def _other_task_set(path) -> None:
    module = DiffusionMTLModule(
        "synthetic", ["semseg", "depth"], network=NetworkConfig(embed_dim=16)
    )
    torch.save(
        {
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": lightning.__version__,
        },
        path,
    )


def _fail(cache, tmp_path, capsys, ckpt, subcommand="validate"):
    args = _args(subcommand, cache, tmp_path, f"--ckpt_path={ckpt}")
    return fails_with_one_line(args, tmp_path / "run" / subcommand, capsys)


@pytest.mark.parametrize(
    ("write", "needle"),
    [
        (lambda p: p.write_bytes(_checkpoint_bytes()[:-200]), "truncated or corrupt"),
        (lambda p: p.write_bytes(bytes(range(7, 256)) * 8), "not a torch checkpoint"),
        (lambda p: p.write_bytes(b""), "empty (0 bytes)"),
    ],
    ids=["truncated", "random-bytes", "empty"],
)
def test_an_unreadable_checkpoint_is_named_with_what_is_wrong(
    cache, tmp_path, capsys, write, needle
):
    ckpt = tmp_path / "bad.ckpt"
    write(ckpt)
    line = _fail(cache, tmp_path, capsys, ckpt)
    assert f"cannot read checkpoint {ckpt}" in line and needle in line


def test_a_missing_checkpoint_is_named(cache, tmp_path, capsys):
    ckpt = tmp_path / "gone.ckpt"
    assert (
        _fail(cache, tmp_path, capsys, ckpt, "fit")
        == f"dmtl: error: --ckpt_path {ckpt} does not exist"
    )


def test_a_folder_is_not_a_checkpoint(cache, tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    line = _fail(cache, tmp_path, capsys, folder)
    assert f"--ckpt_path {folder} is a folder" in line


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-format"])
def test_a_pickle_payload_is_refused_and_never_run(cache, tmp_path, capsys, legacy):
    marker = tmp_path / "payload-ran"
    ckpt = tmp_path / "evil.ckpt"
    content = {"state_dict": {}, "hyper_parameters": {"x": Payload(marker)}}
    torch.save(content, ckpt, _use_new_zipfile_serialization=not legacy)
    line = _fail(cache, tmp_path, capsys, ckpt)
    assert f"cannot read checkpoint {ckpt}" in line and "pickled code or objects" in line
    assert not marker.exists()


def test_a_plain_pickle_is_refused(cache, tmp_path, capsys):
    import pickle

    marker = tmp_path / "payload-ran"
    ckpt = tmp_path / "plain.pkl"
    ckpt.write_bytes(pickle.dumps(Payload(marker), protocol=4))
    line = _fail(cache, tmp_path, capsys, ckpt)
    assert f"cannot read checkpoint {ckpt}" in line and "pickle" in line
    assert not marker.exists()
    assert os.path.getsize(ckpt) > 0


@pytest.mark.parametrize("subcommand", ["validate", "fit"])
def test_a_checkpoint_of_another_task_set_names_both(cache, tmp_path, capsys, subcommand):
    ckpt = tmp_path / "semseg_depth.ckpt"
    _other_task_set(ckpt)
    line = _fail(cache, tmp_path, capsys, ckpt, subcommand)
    assert "trained on [semseg, depth], the config has [semseg, depth, normals]" in line
    assert str(ckpt) in line and "--data.tasks=[semseg,depth]" in line
