"""Atomic checkpoint writes, their mode, RNG state round trips, the shipped configs' checkpoint
policy, loader workers that ignore stop signals, and the optimiser choice under 16-mixed."""

import os
import random
import signal
import stat
from contextlib import nullcontext

import numpy as np
import pytest
import torch
import yaml
from lightning.pytorch.plugins.precision import MixedPrecision
from lightning.pytorch.utilities import GradClipAlgorithmType

from dmtl.callbacks.atomic_io import TEMP_PREFIX, AtomicCheckpointIO
from dmtl.callbacks.fault_tolerance import FaultTolerance
from dmtl.callbacks.rng_states import collect_rng_states, restore_rng_states
from dmtl.callbacks.worker_signals import guard_loader
from dmtl.config import OptimConfig
from dmtl.errors import ConfigError
from dmtl.optim import configure_optimization, fused_allowed
from support import REPO


def test_atomic_write_replaces_the_file_whole(tmp_path):
    path = tmp_path / "ckpts" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1, "w": torch.arange(4)}, path)
    io.save_checkpoint({"step": 2, "w": torch.arange(8)}, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["step"] == 2 and torch.equal(loaded["w"], torch.arange(8))
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, path)
    before = path.read_bytes()

    def crash(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half a checkpoint")  # what a kill mid-write leaves behind
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"step": 2}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)  # noqa: NPY002 (the global state is the subject)
    random.seed(3)
    torch.save(collect_rng_states(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    torch.manual_seed(9)
    np.random.seed(9)  # noqa: NPY002 (the global state is the subject)
    random.seed(9)
    restore_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])  # noqa: NPY002
    assert random.random() == expected[2]


def test_unknown_signal_name_is_a_config_error():
    with pytest.raises(ConfigError, match="SIGFOO"):
        FaultTolerance(signals=["SIGTERM", "SIGFOO"])


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_checkpoints_get_the_mode_of_the_umask_not_0600(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        AtomicCheckpointIO().save_checkpoint({"step": 1}, tmp_path / "last.ckpt")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "last.ckpt").stat().st_mode) == mode


def test_a_partial_file_is_never_taken_for_a_last_checkpoint():
    # Lightning's --ckpt_path last takes every name starting with "last" and ending in .ckpt
    assert "last" not in TEMP_PREFIX


SHIPPED = [
    "experiments/nyuv2/base.yaml",
    "experiments/cityscapes/base.yaml",
    "experiments/pascal_context/base.yaml",
    "experiments/synthetic/default.yaml",
    "experiments/synthetic_pascal/default.yaml",
    "experiments/synthetic_cityscapes/default.yaml",
]


@pytest.mark.parametrize("config", SHIPPED)
def test_every_shipped_config_checkpoints_every_epoch(config):
    callbacks = yaml.safe_load((REPO / config).read_text())["trainer"]["callbacks"]
    ckpts = [c["init_args"] for c in callbacks if c["class_path"].endswith("ModelCheckpoint")]
    assert len(ckpts) == 1
    args = ckpts[0]
    # save_last alone writes only when training ends; top-k (no monitor: the newest) every epoch
    assert args.get("save_top_k", 1) != 0 and args.get("every_n_epochs", 1) == 1
    assert args["save_last"] in (True, "link") and "monitor" not in args


def test_no_fused_adam_with_fp16_and_clipping():
    assert fused_allowed("32-true", 10.0) and fused_allowed("bf16-mixed", 10.0)
    assert fused_allowed("16-mixed", None) and fused_allowed("16-mixed", 0.0)
    assert not fused_allowed("16-mixed", 10.0) and not fused_allowed(16, 1.0)


@pytest.mark.parametrize("fused", [True, False])
def test_16_mixed_clips_the_optimiser_it_is_given(fused):
    """Lightning's 16-mixed plugin refuses to clip a fused optimiser; the unfused one is clipped."""
    layer = torch.nn.Linear(4, 4)
    config = OptimConfig(name="adam", lr=1e-3, weight_decay=0.0)
    # the fused kernel, or dmtl's choice for 16-mixed with clipping at 10
    choice = True if fused else fused_allowed("16-mixed", 10.0)
    optimizer = configure_optimization(layer.parameters(), config, 1, 1, choice)["optimizer"]
    assert bool(optimizer.defaults["fused"]) == fused
    layer(torch.ones(2, 4)).sum().mul(100).backward()
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else nullcontext():
        plugin = MixedPrecision("16-mixed", "cuda")  # Lightning allows fp16 on CUDA only
    if fused:
        with pytest.raises(RuntimeError, match="does not allow for gradient clipping"):
            plugin.clip_gradients(optimizer, 10.0, GradClipAlgorithmType.NORM)
    else:
        plugin.clip_gradients(optimizer, 10.0, GradClipAlgorithmType.NORM)
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in layer.parameters()]))
        assert norm == pytest.approx(10.0, rel=1e-4)


def _worker_sigterm(_index):
    return int(signal.getsignal(signal.SIGTERM) == signal.SIG_IGN)


class _Probe(torch.utils.data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, index):
        return torch.tensor(_worker_sigterm(index))


def test_loader_workers_ignore_the_stop_signals():
    loader = guard_loader(
        torch.utils.data.DataLoader(_Probe(), batch_size=2, num_workers=1), [signal.SIGTERM]
    )
    assert next(iter(loader)).tolist() == [1, 1]
    assert signal.getsignal(signal.SIGTERM) != signal.SIG_IGN  # the main process keeps its own
