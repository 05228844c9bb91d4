"""Atomic checkpoint writes and RNG state round trips (dmtl.callbacks.fault_tolerance)."""

import random

import numpy as np
import pytest
import torch

from dmtl.callbacks.fault_tolerance import (
    AtomicCheckpointIO,
    FaultTolerance,
    collect_rng_states,
    restore_rng_states,
)
from dmtl.errors import ConfigError


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
